import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkHistory,
  checkLifecycles,
  type AppendOperation,
  type CheckReport,
  type History,
  type ReadOperation,
} from '../check/index.js';
import { connect } from '../src/client/index.js';
import type { EventLog } from '../src/types/index.js';
import { seededRandom } from '../src/raft/index.js';
import { createServer } from 'node:net';
import { flipBit, tearTail } from './disk-faults.js';
import { FaultProxy } from './fault-proxy.js';
import { NodeProcess } from './node-process.js';
import { appendLoop, lifecycleStreams, pause, readWholeLog, subscribeAll } from './workload.js';

export interface ChaosOptions {
  nodes: number;
  seconds: number;
  seed: number;
  dir: string;
  clients?: number;
  subscribers?: number;
  /** Where the history goes (JSON), to study a failure. */
  historyFile?: string;
  log?: ((line: string) => void) | undefined;
}

export type FaultKind =
  | 'kill'
  | 'torn-tail'
  | 'bit-flip'
  | 'disk-died'
  | 'pause'
  | 'partition'
  | 'one-way'
  | 'delay'
  | 'transfer'
  | 'membership';
const FAULT_KINDS: readonly FaultKind[] = [
  'kill',
  'torn-tail',
  'bit-flip',
  'disk-died',
  'pause',
  'partition',
  'one-way',
  'delay',
  'transfer',
  'membership',
];

export interface ChaosResult {
  report: CheckReport;
  faults: Record<FaultKind, number>;
  operations: { ok: number; failed: number; unknown: number };
  /** Whether every node ended with the same segment bytes. */
  converged: boolean;
  /** Nodes whose view of a stream's metadata, deletion or tombstone differs from the log's. */
  lifecycleViolations: string[];
  /** Availability: the longest stretch of the run without an acknowledged append (ms), and when it began. */
  longestOutageMs: number;
  longestOutageAt: number;
  seconds: number;
  historyFile: string;
}

/** How long one fault lasts, and the quiet time after it (ms). */
const FAULT_MIN_MS = 1_000;
const FAULT_MAX_MS = 3_000;
const QUIET_MS = 1_000;
/** After healing: time for a leader, for followers to catch up, for subscribers to reach the head. */
const HEAL_TIMEOUT_MS = 60_000;
/** A torn write leaves 1 to this many bytes of a batch after the active segment's last whole one. */
const MAX_TORN_BYTES = 64;
/** How long the nemesis waits for a node with a flipped bit to be repaired before going on. */
const RECOVERY_WAIT_MS = 30_000;
/** A loop never runs more than this many operations per client, whatever the duration. */
const MAX_OPERATIONS_PER_CLIENT = 1_000_000;

/**
 * A Jepsen-style run against real processes: `nodes` × `ordo serve` on loopback, a fault proxy
 * on every directed link between them, clients appending (some with expected counts on hot
 * streams) and subscribers reading the whole log, while a nemesis kills, pauses, partitions,
 * delays, moves leadership and changes membership. Then everything heals, the whole log is
 * read, and the history goes through the checker. Bounded in time and in operations.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const say = options.log ?? (() => undefined);
  const random = seededRandom(options.seed);
  const n = options.nodes;
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const ports = await listenablePorts(2 * n, random);
  const tcp = (i: number) => ports[i]!;
  const http = (i: number) => ports[n + i]!;
  // proxies[i][j]: node i's link to node j.
  const proxies: FaultProxy[][] = ids.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const proxy = new FaultProxy(`${ids[i]}->${ids[j]}`, { host: '127.0.0.1', port: tcp(j) });
      await proxy.listen();
      proxies[i]![j] = proxy;
    }
  }
  const proxyPort = (i: number, j: number) => proxies[i]![j]!.port;
  await mkdir(options.dir, { recursive: true });
  const nodes = ids.map((id, i) => {
    const peers = ids.map((other, j) => `${other}=127.0.0.1:${i === j ? tcp(j) : proxyPort(i, j)}`).join(',');
    // Clients are sent to the nodes themselves, not to the proxies their peers reach them through.
    const advertise = ids.map((other, j) => `${other}=ordo://127.0.0.1:${tcp(j)}`).join(',');
    return new NodeProcess(id, [
      '--dir',
      join(options.dir, id),
      '--node-id',
      id,
      '--peers',
      peers,
      '--advertise',
      advertise,
      '--port',
      String(tcp(i)),
      '--http-port',
      String(http(i)),
    ]);
  });
  await Promise.all(nodes.map((node) => node.start()));
  // Whatever goes wrong, no process or proxy outlives the run (a test must not hang on them).
  let finished = false;
  const openClients: Array<{ close(): Promise<void> }> = [];
  try {
    const urls = ids.map((_, i) => `ordo://127.0.0.1:${tcp(i)}`);
    const started = Date.now();
    const deadline = started + options.seconds * 1000;
    const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const appends: AppendOperation[] = [];
    const clientCount = options.clients ?? 4;
    const subscriberCount = options.subscribers ?? 2;

    const status = async (
      i: number,
    ): Promise<
      | {
          role: string;
          leader: string;
          applied: number;
          commit: number;
          lastIndex: number;
          config: { voters: string[]; learners: string[] };
        }
      | undefined
    > => {
      if (!nodes[i]!.running || nodes[i]!.paused) return undefined;
      try {
        const response = await fetch(`http://127.0.0.1:${http(i)}/cluster`, { signal: AbortSignal.timeout(1000) });
        return ((await response.json()) as { node: never }).node;
      } catch {
        return undefined;
      }
    };
    const leaderIndex = async (): Promise<number | undefined> => {
      for (let i = 0; i < n; i++) if ((await status(i))?.role === 'leader') return i;
      return undefined;
    };
    const admin = async (i: number, path: string, method: string, body?: unknown): Promise<number> => {
      try {
        const response = await fetch(`http://127.0.0.1:${http(i)}${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(10_000),
        });
        await response.text();
        return response.status;
      } catch {
        return 0;
      }
    };

    const clients = await Promise.all(
      Array.from({ length: clientCount }, (_, c) => connect(urls, { clientName: `chaos-c${c}`, timeoutMs: 10_000 })),
    );
    const subscriberLogs = await Promise.all(
      Array.from({ length: subscriberCount }, (_, s) =>
        connect(urls, { clientName: `chaos-s${s}`, timeoutMs: 10_000 }),
      ),
    );
    openClients.push(...clients, ...subscriberLogs);
    const subscribers = subscriberLogs.map((log, s) => subscribeAll(`s${s}`, log));
    const workload = {
      streams: 8,
      hotStreams: 3,
      expectedShare: 0.3,
      lifecycleShare: 0.05,
      deadline,
      maxOperations: MAX_OPERATIONS_PER_CLIENT,
    };
    const loops = clients.map((log, c) =>
      appendLoop(`c${c}`, log, seededRandom(options.seed * 31 + c), workload, started, (op) => appends.push(op)),
    );

    // The nemesis: one fault at a time, then heal and a quiet moment.
    const removed = new Set<number>();
    const nemesis = (async () => {
      await pause(QUIET_MS);
      while (Date.now() + FAULT_MAX_MS + QUIET_MS < deadline) {
        // A node that died by itself is a bug to report, not a fault to run on with.
        checkNoCrash();
        const kind = FAULT_KINDS[random.int(FAULT_KINDS.length)]!;
        const hold = FAULT_MIN_MS + random.int(FAULT_MAX_MS - FAULT_MIN_MS);
        const leader = await leaderIndex();
        const target = random.int(n);
        switch (kind) {
          case 'kill': {
            const victim = random.int(2) === 0 && leader !== undefined ? leader : target;
            say(`kill -9 ${ids[victim]}`);
            await nodes[victim]!.kill();
            await pause(hold);
            await nodes[victim]!.start();
            break;
          }
          case 'torn-tail': {
            // kill -9 while a write was in flight: part of a batch after the last whole one (a torn write).
            const victim = random.int(2) === 0 && leader !== undefined ? leader : target;
            await nodes[victim]!.kill();
            const torn = await tearTail(join(options.dir, ids[victim]!), 1 + random.int(MAX_TORN_BYTES));
            say(`kill -9 ${ids[victim]}, ${torn} bytes of a torn write after its last batch`);
            await pause(hold);
            await nodes[victim]!.start();
            break;
          }
          case 'bit-flip': {
            // Bit rot in acknowledged data while the node is down: it must find it, recover from
            // the others without voting meanwhile, and lose nothing. One node at a time.
            const victim = target;
            await nodes[victim]!.kill();
            const flipped = await flipBit(join(options.dir, ids[victim]!), random);
            say(`kill -9 ${ids[victim]}, flip ${flipped ?? 'nothing (no segment holds two batches)'}, restart`);
            await pause(hold);
            await nodes[victim]!.start();
            await untilRecovered(victim);
            break;
          }
          case 'disk-died': {
            // docs/operations.md's procedure: remove the dead node, start a new one on an
            // empty directory under the same id, add it back.
            const victim = target;
            say(`${ids[victim]}'s disk dies: kill -9, wipe, remove it, start it empty, add it back`);
            await nodes[victim]!.kill();
            await rm(join(options.dir, ids[victim]!), { recursive: true, force: true });
            await removeMember(victim);
            removed.add(victim);
            await nodes[victim]!.start(['--join']);
            await pause(hold);
            await readd(victim);
            break;
          }
          case 'pause': {
            const victim = leader ?? target;
            say(`SIGSTOP ${ids[victim]} for ${hold} ms`);
            nodes[victim]!.pause();
            await pause(hold);
            nodes[victim]!.resume();
            break;
          }
          case 'partition': {
            // A random minority (leader included half the time) against the rest, both ways.
            const minority = new Set<number>([random.int(2) === 0 && leader !== undefined ? leader : target]);
            while (minority.size < Math.floor((n - 1) / 2) && random.int(2) === 0) minority.add(random.int(n));
            say(`partition {${[...minority].map((i) => ids[i]).join(',')}} | rest for ${hold} ms`);
            for (let i = 0; i < n; i++)
              for (let j = 0; j < n; j++)
                if (i !== j && minority.has(i) !== minority.has(j)) proxies[i]![j]!.set({ kind: 'blackhole' });
            await pause(hold);
            break;
          }
          case 'one-way': {
            const from = leader ?? target;
            const to = (from + 1 + random.int(n - 1)) % n;
            say(`one-way cut ${ids[from]} -> ${ids[to]} for ${hold} ms`);
            proxies[from]![to]!.set({ kind: 'blackhole' });
            await pause(hold);
            break;
          }
          case 'delay': {
            const ms = 10 + random.int(90);
            say(`delay every link by ${ms} ms for ${hold} ms`);
            for (const row of proxies) for (const proxy of row) proxy?.set({ kind: 'delay', ms });
            await pause(hold);
            break;
          }
          case 'transfer': {
            if (leader === undefined) continue;
            const to = (leader + 1 + random.int(n - 1)) % n;
            say(`transfer leadership ${ids[leader]} -> ${ids[to]}`);
            await admin(leader, '/cluster/leader', 'POST', { id: ids[to] });
            await pause(hold);
            break;
          }
          case 'membership': {
            if (leader === undefined) continue;
            const victim = (leader + 1 + random.int(n - 1)) % n;
            say(`remove ${ids[victim]}, then add it back`);
            if ((await admin(leader, `/cluster/members/${ids[victim]}`, 'DELETE')) !== 200) continue;
            removed.add(victim);
            await pause(hold);
            await readd(victim);
            break;
          }
        }
        faults[kind]++;
        heal();
        await pause(QUIET_MS);
      }
    })();

    /** Waits (bounded) until a node no longer says it is recovering, so two never recover at once. */
    async function untilRecovered(i: number): Promise<void> {
      const until = Date.now() + RECOVERY_WAIT_MS;
      while (Date.now() < until) {
        const node = (await status(i)) as { recovering?: string } | undefined;
        if (node !== undefined && node.recovering === undefined) return;
        await pause(QUIET_MS);
      }
      say(`${ids[i]} still recovering after ${RECOVERY_WAIT_MS} ms`);
    }

    function checkNoCrash(): void {
      const crash = nodes.find((node) => node.crashed !== undefined);
      if (crash) throw new Error(crash.crashed);
    }

    function heal(): void {
      for (const row of proxies) for (const proxy of row) proxy?.set({ kind: 'pass' });
      for (const node of nodes) node.resume();
    }

    /** Removes a node through whichever node leads, retrying until one takes it. */
    async function removeMember(victim: number): Promise<void> {
      const until = Date.now() + HEAL_TIMEOUT_MS;
      for (;;) {
        const leader = await leaderIndex();
        if (leader !== undefined && (await admin(leader, `/cluster/members/${ids[victim]}`, 'DELETE')) === 200) return;
        checkNoCrash();
        if (Date.now() > until) throw new Error(`could not remove ${ids[victim]}`);
        await pause(200);
      }
    }

    /** Adds a removed node back, with its address: a learner first, then a voter. */
    async function readd(victim: number): Promise<void> {
      const until = Date.now() + HEAL_TIMEOUT_MS;
      const address = `127.0.0.1:${tcp(victim)}`;
      for (const role of ['learner', 'voter']) {
        for (;;) {
          const leader = await leaderIndex();
          if (
            leader !== undefined &&
            (await admin(leader, '/cluster/members', 'POST', { id: ids[victim], role, address })) === 200
          )
            break;
          checkNoCrash();
          if (Date.now() > until) throw new Error(`could not add ${ids[victim]} back as a ${role}`);
          await pause(200);
        }
      }
      removed.delete(victim);
    }

    await Promise.all([nemesis, ...loops]);
    // Heal: every link passes, every process runs, every node is a voter again.
    heal();
    for (const node of nodes) if (!node.running) await node.start();
    for (const victim of [...removed]) await readd(victim);
    say('healed; reading the whole log');
    const reader = await connect(urls, { clientName: 'chaos-final', timeoutMs: 30_000 });
    let final: ReadOperation | undefined;
    for (const stop = Date.now() + HEAL_TIMEOUT_MS; !final; ) {
      try {
        final = await readWholeLog('final', reader, 'final');
      } catch (error) {
        if (Date.now() > stop) throw error;
        await pause(500);
      }
    }
    const head = final.events.length - 1;
    // Subscribers reach the head (they resume after their last position), then stop.
    for (const stop = Date.now() + HEAL_TIMEOUT_MS; Date.now() < stop; ) {
      if (subscribers.every((s) => (s.read.events[s.read.events.length - 1]?.position ?? -1) >= head)) break;
      await pause(100);
    }
    for (const subscriber of subscribers) await subscriber.stop();
    const lifecycleViolations = await checkEveryNodesLifecycles(urls, ids, reader, lifecycleStreams(workload));
    await reader.close();
    for (const log of [...clients, ...subscriberLogs]) await log.close();

    // Every node converges on the same log.
    for (const stop = Date.now() + HEAL_TIMEOUT_MS; Date.now() < stop; ) {
      const all = await Promise.all(ids.map((_, i) => status(i)));
      if (
        all.every(
          (s) => s && s.applied === all[0]!.applied && s.lastIndex === all[0]!.lastIndex && s.commit === s.lastIndex,
        )
      )
        break;
      await pause(200);
    }
    for (const node of nodes) await node.stop();
    for (const row of proxies) for (const proxy of row) await proxy?.close();
    const segments = await Promise.all(ids.map((id) => segmentBytes(join(options.dir, id))));
    const converged = segments.every((bytes) => bytes.equals(segments[0]!));

    const history: History = { appends, reads: [...subscribers.map((s) => s.read), final] };
    const report = checkHistory(history);
    const historyFile = options.historyFile ?? join(options.dir, 'history.json');
    await writeFile(
      historyFile,
      JSON.stringify({ seed: options.seed, nodes: n, seconds: options.seconds, faults, history }),
    );
    const outage = longestOutage(appends, options.seconds * 1000);
    finished = true;
    return {
      report,
      faults,
      operations: report.summary.appends,
      converged,
      lifecycleViolations,
      longestOutageMs: outage.ms,
      longestOutageAt: outage.at,
      seconds: (Date.now() - started) / 1000,
      historyFile,
    };
  } finally {
    if (!finished) {
      for (const client of openClients) await client.close().catch(() => undefined);
      for (const node of nodes) await node.kill().catch(() => undefined);
      for (const row of proxies) for (const proxy of row) await proxy?.close().catch(() => undefined);
    }
  }
}

/**
 * Cuts up to `bytes` off the end of a stopped node's active (last) segment, never into its
 * header; returns how many were cut.
 */
async function segmentBytes(dir: string): Promise<Buffer> {
  const names = (await readdir(join(dir, 'segments'))).filter((name) => name.endsWith('.seg')).sort();
  return Buffer.concat(await Promise.all(names.map((name) => readFile(join(dir, 'segments', name)))));
}

/** The longest time between acknowledgements during the run (from its start to its end). */
function longestOutage(appends: AppendOperation[], runMs: number): { ms: number; at: number } {
  const acks = appends
    .filter((a) => a.outcome === 'ok')
    .map((a) => a.completedAt)
    .sort((a, b) => a - b);
  let best = { ms: 0, at: 0 };
  let previous = 0;
  for (const at of [...acks, runMs]) {
    if (at - previous > best.ms) best = { ms: at - previous, at: previous };
    previous = Math.max(previous, at);
    if (at >= runMs) break;
  }
  return best;
}

/**
 * `count` loopback ports below the ephemeral range (32768 and up on Linux), free a moment ago.
 * A killed node's port must still be free when it restarts; an ephemeral one may meanwhile be
 * taken as the source port of an outgoing connection.
 */
async function listenablePorts(count: number, random: { int(bound: number): number }): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + random.int(12_000);
    if (ports.includes(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) ports.push(port);
  }
  return ports;
}

/**
 * After healing, each node (asked alone, local reads, once it has applied the head) must say of
 * every stream's lifecycle what the metadata streams say.
 */
async function checkEveryNodesLifecycles(
  urls: readonly string[],
  ids: readonly string[],
  reader: EventLog,
  streams: readonly string[],
): Promise<string[]> {
  const head = await reader.headPosition();
  const nodes = await Promise.all(
    urls.map((url) => connect(url, { clientName: 'chaos-lifecycles', timeoutMs: 30_000 })),
  );
  try {
    for (const node of nodes)
      for await (const _ of node.readAll({ from: head, minPosition: head, consistency: 'local' }));
    return await checkLifecycles(
      streams,
      reader,
      nodes.map((log, i) => ({ id: ids[i]!, log })),
    );
  } finally {
    for (const node of nodes) await node.close();
  }
}
