import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { eventSource, type Stats } from './api';
import { Table } from './table';

type ModelRow = Stats['models'][number];
type ConsumerRow = Stats['consumers'][number];

/** A column of a status table: its header, what a row shows in it, and the cell's class. */
type Column<T> = [header: string, cell: (row: T) => ComponentChildren, cellClass?: string | ((row: T) => string)];

/** Models and consumers the server hosts (`ordo serve --models/--consumers`), live. */
export function Patterns() {
  const [stats, setStats] = useState<Stats | undefined>(undefined);
  useEffect(() => {
    const source = eventSource('/console/stats');
    source.addEventListener('stats', (message) =>
      setStats(JSON.parse((message as MessageEvent<string>).data) as Stats),
    );
    return () => source.close();
  }, []);
  if (!stats) return <p class="muted">connecting…</p>;
  const head = stats.log.headPosition;
  const lag: Column<{ position: number }> = ['lag', (row) => Math.max(0, head - row.position), 'num'];
  const lastError: Column<{ lastError?: string }> = ['last error', (row) => row.lastError ?? '', 'muted'];
  const modelColumns: Array<Column<ModelRow>> = [
    ['model', (m) => <a href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</a>],
    ['state', (m) => m.state],
    ['position', (m) => m.position, 'num'],
    lag,
    ['events', (m) => m.events, 'num'],
    ['snapshots written', (m) => m.snapshotsWritten, 'num'],
    lastError,
  ];
  const consumerColumns: Array<Column<ConsumerRow>> = [
    ['consumer', (c) => c.name],
    ['state', (c) => c.state, (c) => (c.state === 'running' ? 'good' : 'bad')],
    ['position', (c) => c.position, 'num'],
    ['checkpoint', (c) => c.checkpoint, 'num'],
    lag,
    ['failures', (c) => c.failures, 'num'],
    ['handled', (c) => c.handled, 'num'],
    lastError,
  ];
  return (
    <section>
      <h2>Models</h2>
      {stats.models.length === 0 ? (
        <p class="muted">this server hosts no models (ordo serve --models ./models.js)</p>
      ) : (
        <StatusTable rows={stats.models} columns={modelColumns} />
      )}
      <h2>Consumers</h2>
      {stats.consumers.length === 0 ? (
        <p class="muted">this server runs no consumers (ordo serve --consumers ./consumers.js)</p>
      ) : (
        <StatusTable rows={stats.consumers} columns={consumerColumns} />
      )}
      <p class="muted">
        Transforms run in their own processes (transform(log, …)); their output streams are in Streams.
      </p>
    </section>
  );
}

/** One row per hosted model or consumer (named uniquely), one cell per column. */
function StatusTable<T extends { name: string }>({ rows, columns }: { rows: readonly T[]; columns: Array<Column<T>> }) {
  return (
    <Table columns={columns.map(([header]) => header)}>
      {rows.map((row) => (
        <tr key={row.name}>
          {columns.map(([header, cell, cellClass]) => (
            <td key={header} class={typeof cellClass === 'function' ? cellClass(row) : cellClass}>
              {cell(row)}
            </td>
          ))}
        </tr>
      ))}
    </Table>
  );
}
