import { useState } from 'preact/hooks';
import { api, errorText } from './api';

/**
 * Erasing a stream (admin): a tombstone that also removes its events' bytes from every node.
 * Only once confirmed, with a confirmation that says so, as nothing brings them back.
 */
export function EraseControls(props: { name: string; erased: boolean; onErased(): void }) {
  const { name, erased, onErased } = props;
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const erase = async () => {
    setBusy(true);
    try {
      const { position } = await api<{ position: number }>(`/streams/${encodeURIComponent(name)}/erase`, {
        method: 'POST',
      });
      setOutcome({ ok: true, text: `erased: its bytes are gone; the tombstone is at position ${position}` });
      setConfirming(false);
      onErased();
    } catch (e) {
      setOutcome({ ok: false, text: errorText(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="erase">
      {!erased && (
        <button type="button" name="erase" class="danger" onClick={() => setConfirming(true)}>
          erase…
        </button>
      )}
      {confirming && (
        <p class="confirm warning" data-erase-confirm>
          Erase <code>{name}</code>? Its events' bytes are removed from every node and this cannot be undone; the stream
          is tombstoned.{' '}
          <button type="button" name="confirm-erase" class="danger" disabled={busy} onClick={() => void erase()}>
            yes, erase it
          </button>{' '}
          <button type="button" name="cancel-erase" onClick={() => setConfirming(false)}>
            cancel
          </button>
        </p>
      )}
      {outcome && (
        <p class={`result ${outcome.ok ? 'ok' : 'error'}`} data-erase-result>
          {outcome.text}
        </p>
      )}
    </div>
  );
}
