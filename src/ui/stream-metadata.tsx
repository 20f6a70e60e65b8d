import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type StreamLifecycleJson, type StreamMetadataJson } from './api';
import { EraseControls } from './stream-erase';

type Outcome = { ok: boolean; text: string } | undefined;
const NUMBER_FIELDS = ['maxAge', 'maxCount', 'truncateBefore'] as const;
type NumberField = (typeof NUMBER_FIELDS)[number];
const HINTS: Record<NumberField, string> = {
  maxAge: 'ms: hide older events',
  maxCount: 'keep the newest n visible',
  truncateBefore: 'hide indexes below this',
};

/**
 * A stream's metadata and lifecycle on its page: what is set and what it makes of the stream,
 * a form to replace it (sent with the metadata count it was read at, so a concurrent change
 * is a 409, not lost), a soft delete, and a tombstone behind a confirmation; for an admin, an
 * erasure behind its own.
 */
export function StreamMetadataPanel(props: {
  name: string;
  canWrite: boolean;
  canErase: boolean;
  version: number;
  onChange(): void;
}) {
  const { name, canWrite, canErase, version, onChange } = props;
  const [lifecycle, setLifecycle] = useState<StreamLifecycleJson | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    api<StreamLifecycleJson>(`/streams/${encodeURIComponent(name)}/metadata`).then(
      (body) => (setLifecycle(body), setError('')),
      (e: unknown) => setError(errorText(e)),
    );
  }, [name, version]);
  if (error) return <p class="error">{error}</p>;
  if (!lifecycle) return null;
  return (
    <section class="lifecycle" data-state={stateOf(lifecycle)}>
      <h3>Metadata</h3>
      <MetadataTable lifecycle={lifecycle} />
      {canWrite && !lifecycle.tombstoned && (
        <>
          <MetadataForm key={lifecycle.metadataCount} lifecycle={lifecycle} onSaved={onChange} />
          <DeleteControls name={name} onDeleted={onChange} />
        </>
      )}
      {canErase && <EraseControls name={name} erased={lifecycle.erased} onErased={onChange} />}
    </section>
  );
}

function stateOf(lifecycle: StreamLifecycleJson): string {
  if (lifecycle.erased) return 'erased';
  return lifecycle.tombstoned ? 'tombstoned' : lifecycle.deleted ? 'deleted' : 'live';
}

const STATE_TEXT: Record<string, string> = {
  live: 'live',
  deleted: 'deleted (soft): every event so far is hidden; appends are taken again',
  tombstoned: 'tombstoned: deleted for good, appends are refused',
  erased: "erased: tombstoned, and its events' bytes removed from every node",
};

function MetadataTable({ lifecycle }: { lifecycle: StreamLifecycleJson }) {
  const { metadata } = lifecycle;
  const state = stateOf(lifecycle);
  const rows: Array<[string, string]> = [
    ...NUMBER_FIELDS.map((field): [string, string] => [field, metadata[field]?.toString() ?? '—']),
    ['custom', metadata.custom === undefined ? '—' : JSON.stringify(metadata.custom)],
    ['state', STATE_TEXT[state]!],
    ['metadataCount', `${lifecycle.metadataCount} change${lifecycle.metadataCount === 1 ? '' : 's'}`],
    ['count', `${lifecycle.count} events appended, hidden or not`],
  ];
  return (
    <table class="metadata">
      <tbody>
        {rows.map(([field, value]) => (
          <tr key={field} data-field={field}>
            <th>{field}</th>
            <td class={field === 'state' && state !== 'live' ? 'warning' : ''}>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type FormFields = Record<NumberField, string> & { custom: string };

function formOf(metadata: StreamMetadataJson): FormFields {
  const text = (value: number | undefined) => (value === undefined ? '' : String(value));
  return {
    maxAge: text(metadata.maxAge),
    maxCount: text(metadata.maxCount),
    truncateBefore: text(metadata.truncateBefore),
    custom: metadata.custom === undefined ? '' : JSON.stringify(metadata.custom, null, 2),
  };
}

/** The metadata a form holds; an empty field is left out. The server checks the values and names a bad one. */
function metadataOf(fields: FormFields): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  for (const field of NUMBER_FIELDS) {
    const text = fields[field].trim();
    if (text !== '') metadata[field] = /^-?\d+$/.test(text) ? Number(text) : text;
  }
  if (fields.custom.trim() !== '') metadata.custom = JSON.parse(fields.custom);
  return metadata;
}

function MetadataForm({ lifecycle, onSaved }: { lifecycle: StreamLifecycleJson; onSaved(): void }) {
  const [fields, setFields] = useState<FormFields>(() => formOf(lifecycle.metadata));
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const set = (field: keyof FormFields) => (e: Event) =>
    setFields({ ...fields, [field]: (e.target as HTMLInputElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    let metadata: Record<string, unknown>;
    try {
      metadata = metadataOf(fields);
    } catch (error) {
      setOutcome({ ok: false, text: `custom is not JSON: ${(error as Error).message}` });
      return;
    }
    try {
      const path = `/streams/${encodeURIComponent(lifecycle.stream)}/metadata`;
      const headers = { 'ordo-expected-count': String(lifecycle.metadataCount) };
      await api(path, { method: 'PUT', body: metadata, headers });
      onSaved();
    } catch (error) {
      setOutcome({ ok: false, text: errorText(error) });
    }
  };
  return (
    <form class="metadata-form" onSubmit={save}>
      {NUMBER_FIELDS.map((field) => (
        <label key={field}>
          {field} <input name={field} placeholder={HINTS[field]} value={fields[field]} onInput={set(field)} />
        </label>
      ))}
      <label>
        custom (JSON object) <textarea name="custom" rows={3} value={fields.custom} onInput={set('custom')} />
      </label>
      <button type="submit">save metadata</button>
      {outcome && (
        <p class="result error" data-metadata-result>
          {outcome.text}
        </p>
      )}
    </form>
  );
}

/** A soft delete at once; a tombstone only once confirmed, as it cannot be undone. */
function DeleteControls({ name, onDeleted }: { name: string; onDeleted(): void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState('');
  const remove = async (tombstone: boolean) => {
    try {
      await api(`/streams/${encodeURIComponent(name)}${tombstone ? '?tombstone=true' : ''}`, { method: 'DELETE' });
      setConfirming(false);
      onDeleted();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div class="delete">
      <button type="button" name="delete" onClick={() => void remove(false)}>
        delete (soft)
      </button>
      <button type="button" name="tombstone" class="danger" onClick={() => setConfirming(true)}>
        delete for good…
      </button>
      {confirming && (
        <p class="confirm warning">
          Tombstone <code>{name}</code>? It reads empty and refuses every later append, for good.{' '}
          <button type="button" name="confirm-tombstone" class="danger" onClick={() => void remove(true)}>
            yes, tombstone it
          </button>{' '}
          <button type="button" name="cancel" onClick={() => setConfirming(false)}>
            cancel
          </button>
        </p>
      )}
      {error && <p class="result error">{error}</p>}
    </div>
  );
}
