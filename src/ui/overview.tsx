import { useEffect, useState } from 'preact/hooks';
import type { LogMetrics } from '../types/log-metrics.js';
import { eventSource, type Stats } from './api';
import { Card, formatBytes } from './card';
import { Chart } from './chart';
import { Scavenging } from './scavenging';
import { Table } from './table';

/** Samples kept for the charts: five minutes at one a second. */
const HISTORY = 300;

interface Series {
  times: number[];
  appends: number[];
  bytes: number[];
  fsyncP99: number[];
  lag: number[];
}

const empty = (): Series => ({ times: [], appends: [], bytes: [], fsyncP99: [], lag: [] });

export function Overview({ canAdmin }: { canAdmin: boolean }) {
  const [stats, setStats] = useState<Stats | undefined>(undefined);
  const [series, setSeries] = useState<Series>(empty);
  const [error, setError] = useState('');
  useEffect(() => {
    let previous: Stats | undefined;
    const source = eventSource('/console/stats');
    source.addEventListener('stats', (message) => {
      const next = JSON.parse((message as MessageEvent<string>).data) as Stats;
      setError('');
      setStats(next);
      if (previous) {
        const seconds = Math.max(0.001, (next.time - previous.time) / 1000);
        const prev = previous;
        setSeries((s) => {
          const keep = <T,>(list: T[], value: T) => [...list, value].slice(-HISTORY);
          return {
            times: keep(s.times, next.time / 1000),
            appends: keep(s.appends, (next.log.appendedEvents - prev.log.appendedEvents) / seconds),
            bytes: keep(s.bytes, (next.log.bytesWritten - prev.log.bytesWritten) / seconds),
            fsyncP99: keep(s.fsyncP99, next.fsync.p99Ms),
            lag: keep(s.lag, next.log.maxSubscriberLag),
          };
        });
      }
      previous = next;
    });
    source.onerror = () => setError('the live feed is interrupted: reconnecting…');
    return () => source.close();
  }, []);
  if (!stats) return <p class="muted">{error || 'connecting to the live feed…'}</p>;
  const { node } = stats;
  const members = [...node.config.voters, ...node.config.learners];
  return (
    <section>
      <h2>Overview</h2>
      {error && <p class="warning">{error}</p>}
      <div class="cards">
        <Card label="head position" value={stats.log.headPosition} />
        {stats.log.firstPosition > 0 && <Card label="first position (retention)" value={stats.log.firstPosition} />}
        <Card label="streams" value={stats.log.streams} />
        <Card label="appended events" value={stats.log.appendedEvents} />
        <Card label="live subscribers" value={stats.log.liveSubscribers} />
        <Card label="fsync p99 (last s)" value={`${stats.fsync.p99Ms.toFixed(2)} ms`} />
      </div>
      <Scrub log={stats.log} inCluster={node.config.voters.length + node.config.learners.length > 1} />
      <Scavenging log={stats.log} canAdmin={canAdmin} />
      <h3>Nodes</h3>
      <Table class="nodes" columns={['node', 'role', 'term', 'match / commit', 'lag (entries)', 'health']}>
        {members.map((id) => {
          const self = id === node.id;
          const progress = node.progress[id];
          const match = self ? node.lastIndex : progress?.match;
          const lag = match === undefined ? undefined : Math.max(0, node.lastIndex - match);
          const healthy = self || (progress ? progress.recentActive : undefined);
          return (
            <tr key={id} data-node={id}>
              <td>
                {id}
                {self ? ' (this node)' : ''}
                {node.config.learners.includes(id) ? ' · learner' : ''}
              </td>
              <td>{self ? node.role : id === node.leader ? 'leader' : node.role === 'leader' ? 'follower' : '—'}</td>
              <td>{self ? node.term : ''}</td>
              <td>
                {match ?? '?'} / {node.commit}
              </td>
              <td>{lag ?? (node.role === 'leader' ? '?' : 'ask the leader')}</td>
              <td class={healthy === false ? 'bad' : healthy ? 'good' : 'muted'}>
                {healthy === undefined ? 'unknown here' : healthy ? 'active' : 'not heard from'}
              </td>
            </tr>
          );
        })}
      </Table>
      <p class="muted">
        leader: {node.leader || 'none known'} · commit index {node.commit} · applied {node.applied}
      </p>
      <div class="charts">
        <Chart
          title="events appended / s"
          unit="events/s"
          times={series.times}
          values={series.appends}
          color="#2563eb"
        />
        <Chart title="bytes written / s" unit="B/s" times={series.times} values={series.bytes} color="#7c3aed" />
        <Chart title="fsync p99" unit="ms" times={series.times} values={series.fsyncP99} color="#f59e0b" />
        <Chart title="slowest subscriber lag" unit="events" times={series.times} values={series.lag} color="#dc2626" />
      </div>
    </section>
  );
}

/** The background scrub of sealed segments, and damage found by it or by reads (with what to do). */
function Scrub({ log, inCluster }: { log: LogMetrics; inCluster: boolean }) {
  const lastPass = log.scrubLastPassEndTime > 0 ? new Date(log.scrubLastPassEndTime).toISOString() : 'none yet';
  const progress = log.scrubPassProgress > 0 ? ` · pass in progress: ${Math.floor(log.scrubPassProgress * 100)}%` : '';
  const todo = inCluster
    ? 'Restart this node so that it repairs them from its peers.'
    : 'Restore the log from a backup (`ordo status --http` lists them).';
  return (
    <div class="scrub" data-damaged={log.damagedBatches}>
      <p class="muted">
        scrub of sealed segments: {log.scrubPasses.toLocaleString('en-US')} passes ·{' '}
        {formatBytes(log.scrubVerifiedBytes)} verified · last pass ended {lastPass}
        {progress}
      </p>
      {log.damagedBatches > 0 && (
        <p class="damage bad">
          {log.damagedBatches.toLocaleString('en-US')} damaged batch{log.damagedBatches === 1 ? '' : 'es'} in sealed
          segments: reads that reach them fail with CORRUPT_LOG. {todo}
        </p>
      )}
    </div>
  );
}
