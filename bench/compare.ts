import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { availableParallelism } from 'node:os';
import { freePorts } from '../test/support/free-ports.js';
import { startServerProcess } from './remote.js';
import { startNatsServer } from './nats-server.js';
import { ordoTarget } from './ordo-target.js';
import { jetStreamTarget } from './jetstream-target.js';
import { fmt, type BenchRow } from './report.js';
import type { CompareTarget } from './compare-target.js';

export const COMPARE_GROUP = 'Ordo vs JetStream';

/** Workload sizes: quick keeps `npm run bench` within about three minutes. */
function sizes(quick: boolean) {
  return {
    awaitedSeconds: quick ? 1.5 : 4,
    inFlight: quick ? 200_000 : 500_000,
    batched: quick ? 1_000_000 : 3_000_000,
    catchUp: quick ? 200_000 : 1_000_000,
    latencySeconds: quick ? 2 : 5,
    fanOut10: quick ? 10_000 : 50_000,
    fanOut100: quick ? 2_000 : 10_000,
    hotSeconds: quick ? 1.5 : 4,
  };
}

export const LATENCY_RATES = [10_000, 50_000] as const;
const PERCENTILES = [50, 99, 99.9] as const;

export interface LatencyCurve {
  system: string;
  rate: number;
  /** [percentile, ms] points of the distribution, for the CDF chart. */
  points: Array<[number, number]>;
}

export interface CompareResult {
  rows: BenchRow[];
  curves: LatencyCurve[];
  conditions: Record<string, unknown>;
}

/**
 * The same workloads on Ordo (`ordo serve` in its own process, fsync before every ack,
 * through `connect()`) and on NATS JetStream (nats-server from Debian on loopback, file storage,
 * through the `nats` client with `noAsyncTraces`), in this one run, with Ordo/JetStream ratios.
 * JetStream with `sync_interval: always` (fsync before its acks, as Ordo does) is measured too
 * when the nats-server version knows the setting; the conditions say which.
 */
export async function benchCompare(options: {
  dir: string;
  quick?: boolean;
  log?: (line: string) => void;
}): Promise<CompareResult> {
  const quick = options.quick === true;
  const size = sizes(quick);
  const say = options.log ?? ((line: string) => console.error(line));
  let natsVersion = 'unknown';
  let syncAlways: boolean | undefined;
  /** Each system in turn: started, measured, stopped (only one runs at a time). */
  const systems: Array<{
    name: string;
    start(): Promise<{ target: CompareTarget; stop(): Promise<void> } | undefined>;
  }> = [
    {
      name: 'Ordo',
      start: async () => {
        const server = await startServerProcess(join(options.dir, 'compare-ordo'));
        return { target: await ordoTarget(server.url, 'Ordo'), stop: () => server.stop() };
      },
    },
    {
      name: 'Ordo 3-node cluster',
      start: async () => {
        const ports = await freePorts(6);
        const ids = ['n1', 'n2', 'n3'];
        const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
        const nodes = await Promise.all(
          ids.map((id, i) =>
            startServerProcess(join(options.dir, `compare-cluster-${id}`), [
              '--node-id',
              id,
              '--peers',
              peers,
              '--port',
              String(ports[i]),
              '--http-port',
              String(ports[3 + i]),
            ]),
          ),
        );
        const target = await ordoTarget(
          nodes.map((node) => node.url),
          'Ordo 3-node cluster',
        );
        return { target, stop: async () => void (await Promise.all(nodes.map((node) => node.stop()))) };
      },
    },
    {
      name: 'JetStream',
      start: async () => {
        const nats = await startNatsServer(join(options.dir, 'compare-nats'));
        natsVersion = nats.version;
        return { target: await jetStreamTarget(nats.url, 'JetStream'), stop: () => nats.stop() };
      },
    },
    {
      name: 'JetStream (sync always)',
      start: async () => {
        const nats = await startNatsServer(join(options.dir, 'compare-nats-sync'), { syncAlways: true });
        syncAlways = nats.syncAlways;
        if (!nats.syncAlways) {
          await nats.stop();
          return undefined;
        }
        return { target: await jetStreamTarget(nats.url, 'JetStream (sync always)'), stop: () => nats.stop() };
      },
    },
  ];
  const measured = new Map<string, Map<string, { value: number; unit: string; note?: string }>>();
  const record: RecordFigure = (workload, target, value, unit, note) => {
    let byTarget = measured.get(workload);
    if (!byTarget) measured.set(workload, (byTarget = new Map()));
    byTarget.set(target.name, { value, unit, ...(note ? { note } : {}) });
  };
  const curves: LatencyCurve[] = [];
  for (const system of systems) {
    const started = await system.start();
    if (!started) continue;
    try {
      await runWorkloads(started.target, size, record, curves, say);
    } finally {
      await started.target.close().catch(() => undefined);
      await started.stop();
    }
  }

  const rows: BenchRow[] = [];
  const jetStream = 'JetStream';
  for (const [workload, byTarget] of measured) {
    const base = byTarget.get(jetStream);
    for (const [system, figure] of byTarget) {
      const row: BenchRow = {
        group: COMPARE_GROUP,
        name: `${workload}: ${system}`,
        value: figure.value,
        unit: figure.unit,
      };
      if (system.startsWith('Ordo') && base && base.value > 0) {
        // For latencies lower is better: the ratio still reads Ordo / JetStream.
        row.ratio = { of: jetStream, value: figure.value / base.value };
      }
      if (figure.note) row.note = figure.note;
      rows.push(row);
    }
  }
  return {
    rows,
    curves,
    conditions: {
      payloadBytes: 100,
      cpus: availableParallelism(),
      ordo:
        'ordo serve in its own process (a cluster: three), fsync always: an ack means fdatasync done' +
        ' (a cluster: at quorum); client connect() over loopback TCP',
      jetstream: `nats-server ${natsVersion} (Debian), file storage, loopback; nats npm client with noAsyncTraces`,
      jetstreamSyncAlways: syncAlways
        ? 'measured (sync_interval: always)'
        : `not measured: nats-server ${natsVersion} does not know sync_interval (added in 2.10),` +
          ' so JetStream acks before it fsyncs',
      quick,
    },
  };
}

type RecordFigure = (workload: string, target: CompareTarget, value: number, unit: string, note?: string) => void;

/** Every workload on one system, in the same order for each, after a warm-up that is not recorded. */
async function runWorkloads(
  target: CompareTarget,
  size: ReturnType<typeof sizes>,
  record: RecordFigure,
  curves: LatencyCurve[],
  say: (line: string) => void,
): Promise<void> {
  // Warm-up, not recorded: JIT and buffers on both ends.
  say(`  ${target.name}: warming up…`);
  await target.inFlight(20_000, 1000);
  await target.batched(100_000, 100, 16);
  say(`  ${target.name}: awaited, in flight, batched…`);
  record('publish 1, awaited (sequential)', target, await target.awaited(size.awaitedSeconds), 'msg/s');
  record('publish 1, 1000 in flight', target, await target.inFlight(size.inFlight, 1000), 'msg/s');
  record('publish 100 per batch, 16 batches in flight', target, await target.batched(size.batched, 100, 16), 'msg/s');
  say(`  ${target.name}: catch-up read of ${fmt(size.catchUp)}…`);
  record(`catch-up read of ${fmt(size.catchUp)}`, target, await target.catchUp(size.catchUp), 'msg/s');
  for (const rate of LATENCY_RATES) {
    say(`  ${target.name}: end-to-end latency at ${fmt(rate)}/s…`);
    const { micros, sent, received } = await target.latency(rate, size.latencySeconds);
    const histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 600_000_000,
      numberOfSignificantValueDigits: 3,
    });
    for (const value of micros) histogram.recordValue(Math.max(1, Math.round(value)));
    const lost = sent - received;
    const note =
      lost > 0 ? `${fmt(lost)} of ${fmt(sent)} not delivered within ${size.latencySeconds} s + 5 s` : undefined;
    for (const p of PERCENTILES)
      record(
        `latency p${p} at ${fmt(rate)}/s`,
        target,
        histogram.getValueAtPercentile(p) / 1000,
        'ms',
        p === 99 ? note : undefined,
      );
    record(`latency max at ${fmt(rate)}/s`, target, histogram.maxValue / 1000, 'ms');
    curves.push({
      system: target.name,
      rate,
      points: [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100].map(
        (p) => [p, histogram.getValueAtPercentile(p) / 1000] as [number, number],
      ),
    });
    histogram.destroy();
  }
  say(`  ${target.name}: fan-out…`);
  record('fan-out to 10 subscribers', target, await target.fanOut(10, size.fanOut10), 'deliveries/s');
  record('fan-out to 100 subscribers', target, await target.fanOut(100, size.fanOut100), 'deliveries/s');
  say(`  ${target.name}: expected-count appends on one hot stream from 4 clients…`);
  const hot = await target.hotStream(4, size.hotSeconds);
  record('hot stream, 4 clients: successful appends', target, hot.appends, 'appends/s');
  record('hot stream, 4 clients: conflicts', target, hot.conflicts, 'conflicts/s');
}
