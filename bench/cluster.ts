import { join } from 'node:path';
import { connect, type RemoteEventLog } from '../src/client/index.js';
import { formatNumber, type BenchRow } from './report.js';
import { freePorts } from '../test/support/free-ports.js';
import { LATENCY_EVENTS_PER_SECOND, endToEndLatency, pipelined, startServerProcess } from './remote.js';

const GROUP = 'cluster (quorum)';

interface Figures {
  pipelined: number;
  batched: number;
  latency: Array<[number, number]>;
}

/**
 * Replication's cost: the same workloads through `connect()` against a single `ordo serve`
 * and against a 3-node cluster of `ordo serve` processes on this machine (fsync always,
 * ack at quorum: on the leader's disk and one follower's), measured in the same run.
 */
export async function benchCluster(options: { dir: string; quick?: boolean }): Promise<BenchRow[]> {
  const quick = options.quick === true;
  const rows: BenchRow[] = [];
  const single = await startServerProcess(join(options.dir, 'single'));
  let reference: Figures;
  try {
    reference = await measure(await connect(single.url, { clientName: 'bench' }), quick);
  } finally {
    await single.stop();
  }

  const ports = await freePorts(6);
  const ids = ['n1', 'n2', 'n3'];
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
  const nodes = await Promise.all(ids.map((id, i) => startServerProcess(join(options.dir, `cluster-${id}`), ['--node-id', id, '--peers', peers, '--port', String(ports[i]), '--http-port', String(ports[3 + i])])));
  let cluster: Figures;
  try {
    const log = await connect(nodes.map((n) => n.url), { clientName: 'bench', timeoutMs: 60_000 });
    // Wait for an elected leader: the first append goes through once there is one.
    await log.append('warm-up', { type: 'Bench' });
    cluster = await measure(log, quick);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }

  const add = (name: string, value: number, unit: string, of: number, note?: string) => {
    rows.push({ group: GROUP, name: `single node: ${name}`, value: of, unit });
    rows.push({ group: GROUP, name: `3 nodes: ${name}`, value, unit, ratio: { of: 'single node', value: value / of }, ...(note ? { note } : {}) });
  };
  add('append 1 event, 1000 in flight', cluster.pipelined, 'events/s', reference.pipelined, 'target ≥ 100k');
  add('append 100 events/append, 16 in flight', cluster.batched, 'events/s', reference.batched);
  for (const [i, [p, value]] of cluster.latency.entries()) {
    add(`append→subscriber latency p${p} at ${formatNumber(LATENCY_EVENTS_PER_SECOND)} ev/s`, value, 'ms', reference.latency[i]![1], p === 99 ? 'target ≤ 5 ms' : undefined);
  }
  return rows;
}

async function measure(log: RemoteEventLog, quick: boolean): Promise<Figures> {
  try {
    const pipelinedRate = await pipelined(log, quick ? 100_000 : 300_000, 1000, 1);
    const batched = await pipelined(log, quick ? 500_000 : 2_000_000, 16, 100);
    const { percentiles } = await endToEndLatency(log, quick ? 2 : 5);
    return { pipelined: pipelinedRate, batched, latency: percentiles };
  } finally {
    await log.close();
  }
}
