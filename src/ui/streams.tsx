import { useEffect, useState } from 'preact/hooks';
import { api, type EventJson } from './api';
import { EventTable } from './event-view';
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

export function StreamView({ name }: { name: string }) {
  const [from, setFrom] = useState(0);
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
  }, [name, from]);
  return (
    <section>
      <h2>
        Stream <code>{name}</code>
      </h2>
      <p class="muted">
        {count === undefined ? '' : `${count} events · showing indexes ${from}–${Math.min(from + PAGE, count) - 1}`}
      </p>
      {error && <p class="error">{error}</p>}
      <div class="pager">
        <button type="button" disabled={from === 0} onClick={() => setFrom(Math.max(0, from - PAGE))}>
          previous
        </button>
        <button
          type="button"
          disabled={count === undefined || from + PAGE >= count}
          onClick={() => setFrom(from + PAGE)}
        >
          next
        </button>
      </div>
      <EventTable events={events} />
    </section>
  );
}
