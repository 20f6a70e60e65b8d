import { useEffect, useState } from 'preact/hooks';
import { eventSource, type Stats } from './api';

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
  return (
    <section>
      <h2>Models</h2>
      {stats.models.length === 0 ? (
        <p class="muted">this server hosts no models (ordo serve --models ./models.js)</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>model</th>
              <th>state</th>
              <th>position</th>
              <th>lag</th>
              <th>events</th>
              <th>snapshots written</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {stats.models.map((m) => (
              <tr key={m.name}>
                <td>
                  <a href={`/models/${encodeURIComponent(m.name)}`}>{m.name}</a>
                </td>
                <td>{m.state}</td>
                <td class="num">{m.position}</td>
                <td class="num">{Math.max(0, head - m.position)}</td>
                <td class="num">{m.events}</td>
                <td class="num">{m.snapshotsWritten}</td>
                <td class="muted">{m.lastError ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Consumers</h2>
      {stats.consumers.length === 0 ? (
        <p class="muted">this server runs no consumers (ordo serve --consumers ./consumers.js)</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>consumer</th>
              <th>state</th>
              <th>position</th>
              <th>checkpoint</th>
              <th>lag</th>
              <th>failures</th>
              <th>handled</th>
              <th>last error</th>
            </tr>
          </thead>
          <tbody>
            {stats.consumers.map((c) => (
              <tr key={c.name}>
                <td>{c.name}</td>
                <td class={c.state === 'running' ? 'good' : 'bad'}>{c.state}</td>
                <td class="num">{c.position}</td>
                <td class="num">{c.checkpoint}</td>
                <td class="num">{Math.max(0, head - c.position)}</td>
                <td class="num">{c.failures}</td>
                <td class="num">{c.handled}</td>
                <td class="muted">{c.lastError ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="muted">
        Transforms run in their own processes (transform(log, …)); their output streams are in Streams.
      </p>
    </section>
  );
}
