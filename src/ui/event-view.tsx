import type { EventJson } from './api';
import { Table } from './table';

/** One event: where it is, what it is, and its data (JSON pretty-printed, bytes as base64). */
export function EventRow({ event }: { event: EventJson }) {
  const data =
    event.dataBase64 !== undefined ? `base64: ${event.dataBase64}` : JSON.stringify(event.data ?? null, null, 2);
  return (
    <tr class="event" data-position={event.position}>
      <td class="num">{event.position}</td>
      <td>{event.stream}</td>
      <td class="num">{event.index}</td>
      <td>{event.type}</td>
      <td class="muted">{new Date(event.timestamp).toISOString().replace('T', ' ').replace('Z', '')}</td>
      <td>
        <pre>{data}</pre>
        {event.metadata !== undefined && <pre class="muted">metadata: {JSON.stringify(event.metadata)}</pre>}
      </td>
    </tr>
  );
}

export function EventTable({ events }: { events: EventJson[] }) {
  return (
    <Table class="events" columns={['position', 'stream', 'index', 'type', 'timestamp (UTC)', 'data']}>
      {events.map((event) => (
        <EventRow key={`${event.position}-${event.id}`} event={event} />
      ))}
    </Table>
  );
}
