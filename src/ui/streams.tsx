import { useEffect, useState } from 'preact/hooks';
import { api, type EventJson } from './api';
import { EventTable } from './event-view';
import { StreamMetadataPanel } from './stream-metadata';
import { Table } from './table';

const PAGE = 50;

export function Streams() {
  const [prefix, setPrefix] = useState('');
  const [limit, setLimit] = useState(PAGE);
  const [streams, setStreams] = useState<Array<{ stream: string; count: number }>>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const query = new URLSearchParams({ limit: String(limit + 1) });
    if (prefix) query.set('prefix', prefix);
    api<{ streams: Array<{ stream: string; count: number }> }>(`/streams?${query}`).then(
      (body) => (setStreams(body.streams), setError('')),
      (e: Error) => setError(e.message),
    );
  }, [prefix, limit]);
  return (
    <section>
      <h2>Streams</h2>
      <input
        class="search"
        placeholder="search by prefix, e.g. user-"
        value={prefix}
        onInput={(e) => (setPrefix((e.target as HTMLInputElement).value), setLimit(PAGE))}
      />
      {error && <p class="error">{error}</p>}
      <Table class="streams" columns={['stream', 'count']}>
        {streams.slice(0, limit).map((s) => (
          <tr key={s.stream}>
            <td>
              <a href={`#/streams/${encodeURIComponent(s.stream)}`}>{s.stream}</a>
            </td>
            <td class="num">{s.count}</td>
          </tr>
        ))}
      </Table>
      {streams.length > limit && (
        <button type="button" onClick={() => setLimit(limit + PAGE)}>
          more streams
        </button>
      )}
      {streams.length === 0 && !error && (
        <p class="muted">no streams{prefix ? ` starting with "${prefix}"` : ' yet: append one'}</p>
      )}
    </section>
  );
}

export function StreamView({ name, canWrite, canErase }: { name: string; canWrite: boolean; canErase: boolean }) {
  const [from, setFrom] = useState(0);
  // Bumped by a metadata change or a deletion: what the stream shows changes with them.
  const [version, setVersion] = useState(0);
  const [events, setEvents] = useState<EventJson[]>([]);
  const [count, setCount] = useState<number | undefined>(undefined);
  const [error, setError] = useState('');
  useEffect(() => {
    const stream = encodeURIComponent(name);
    Promise.all([
      api<{ events: EventJson[] }>(`/streams/${stream}?from=${from}&limit=${PAGE}`),
      api<{ count: number }>(`/streams/${stream}/count`),
    ]).then(
      ([read, counted]) => (setEvents(read.events), setCount(counted.count), setError('')),
      (e: Error) => setError(e.message),
    );
  }, [name, from, version]);
  // Paging goes on from the last index shown: hidden events leave gaps in the indexes.
  const last = events[events.length - 1]?.index;
  return (
    <section>
      <h2>
        Stream <code>{name}</code>
      </h2>
      <p class="muted" data-shown>
        {count === undefined ? '' : `${count} events appended · ${shownText(events)}`}
      </p>
      {error && <p class="error">{error}</p>}
      <StreamMetadataPanel
        name={name}
        canWrite={canWrite}
        canErase={canErase}
        version={version}
        onChange={() => setVersion(version + 1)}
      />
      <div class="pager">
        <button type="button" disabled={from === 0} onClick={() => setFrom(Math.max(0, from - PAGE))}>
          previous
        </button>
        <button
          type="button"
          disabled={count === undefined || last === undefined || last + 1 >= count}
          onClick={() => last !== undefined && setFrom(last + 1)}
        >
          next
        </button>
      </div>
      <EventTable events={events} />
    </section>
  );
}

/** Which indexes the page shows: the stream's metadata may hide some, or all. */
function shownText(events: EventJson[]): string {
  if (events.length === 0) return 'no visible events here';
  return `showing indexes ${events[0]!.index}–${events[events.length - 1]!.index}`;
}
