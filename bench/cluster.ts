import { cp, readdir, stat } from 'node:fs/promises';
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

  const ports = await freePorts(8);
  // n4 is in every --peers but not a voter: it joins after the workloads (a snapshot install).
  const ids = ['n1', 'n2', 'n3', 'n4'];
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
  const args = (id: string, i: number) => [
    '--node-id',
    id,
    '--peers',
    peers,
    '--initial-voters',
    'n1,n2,n3',
    '--window-entries',
    String(WINDOW_ENTRIES),
    '--port',
    String(ports[i]),
    '--http-port',
    String(ports[4 + i]),
  ];
  const nodes = await Promise.all(
    ids.slice(0, 3).map((id, i) => startServerProcess(join(options.dir, `cluster-${id}`), args(id, i))),
  );
  let cluster: Figures;
  let snapshot: { bytes: number; ms: number; copyMs: number };
  try {
    const log = await connect(
      nodes.map((n) => n.url),
      { clientName: 'bench', timeoutMs: 60_000 },
    );
    // Wait for an elected leader: the first append goes through once there is one.
    await log.append('warm-up', { type: 'Bench' });
    cluster = await measure(log, quick);
    nodes.push(await startServerProcess(join(options.dir, 'cluster-n4'), args('n4', 3)));
    snapshot = await snapshotInstall(options.dir, ports.slice(4));
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }

  const add = (name: string, value: number, unit: string, of: number, note?: string) => {
    rows.push({ group: GROUP, name: `single node: ${name}`, value: of, unit });
    rows.push({
      group: GROUP,
      name: `3 nodes: ${name}`,
      value,
      unit,
      ratio: { of: 'single node', value: value / of },
      ...(note ? { note } : {}),
    });
  };
  add('append 1 event, 1000 in flight', cluster.pipelined, 'events/s', reference.pipelined, 'target ≥ 100k');
  add('append 100 events/append, 16 in flight', cluster.batched, 'events/s', reference.batched);
  for (const [i, [p, value]] of cluster.latency.entries()) {
    add(
      `append→subscriber latency p${p} at ${formatNumber(LATENCY_EVENTS_PER_SECOND)} ev/s`,
      value,
      'ms',
      reference.latency[i]![1],
      p === 99 ? 'target ≤ 5 ms' : undefined,
    );
  }
  rows.push({
    group: GROUP,
    name: "copy of the leader's segment files (fs.cp, no fsync)",
    value: rate(snapshot.bytes, snapshot.copyMs),
    unit: 'MB/s',
  });
  rows.push({
    group: GROUP,
    name: `new node caught up by snapshot install (${formatNumber(Math.round(snapshot.bytes / 1e6))} MB)`,
    value: rate(snapshot.bytes, snapshot.ms),
    unit: 'MB/s',
    ratio: { of: 'file copy', value: snapshot.copyMs / snapshot.ms },
    note: `${(snapshot.ms / 1000).toFixed(1)} s from add to applied`,
  });
  return rows;
}

/** Entries each node keeps in memory: small, so the new node's catch-up is a snapshot install, not appends. */
const WINDOW_ENTRIES = 1000;

const rate = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/**
 * Adds n4 as a learner and times it until it has applied the leader's commit index, with a
 * file copy of the leader's segments beside it as the reference.
 */
async function snapshotInstall(
  dir: string,
  httpPorts: number[],
): Promise<{ bytes: number; ms: number; copyMs: number }> {
  const http = (i: number) => `http://127.0.0.1:${httpPorts[i]}`;
  let leader = -1;
  for (let i = 0; i < 3 && leader < 0; i++) {
    const status = (await (await fetch(`${http(i)}/cluster`)).json()) as { node: { role: string } };
    if (status.node.role === 'leader') leader = i;
  }
  if (leader < 0) throw new Error('no leader to add n4');
  const source = join(dir, `cluster-n${leader + 1}`, 'segments');
  const copyStart = performance.now();
  await cp(source, join(dir, 'segments-copy'), { recursive: true });
  const copyMs = performance.now() - copyStart;
  const start = performance.now();
  const added = await fetch(`${http(leader)}/cluster/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'n4' }),
  });
  if (added.status !== 200) throw new Error(`adding n4: ${added.status} ${await added.text()}`);
  const target = ((await (await fetch(`${http(leader)}/cluster`)).json()) as { node: { commit: number } }).node.commit;
  const deadline = Date.now() + 600_000;
  for (;;) {
    const n4 = ((await (await fetch(`${http(3)}/cluster`)).json()) as { node: { applied: number } }).node;
    if (n4.applied >= target) break;
    if (Date.now() > deadline) throw new Error(`n4 did not catch up (applied ${n4.applied} of ${target})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = performance.now() - start;
  let bytes = 0;
  for (const name of await readdir(join(dir, 'cluster-n4', 'segments')))
    bytes += (await stat(join(dir, 'cluster-n4', 'segments', name))).size;
  return { bytes, ms, copyMs };
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
