import { spawn, type ChildProcess } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { connect, type RemoteEventLog } from '../src/client/index.js';
import { elapsedMs, formatNumber, rate, type BenchRow } from './report.js';
import { RECORD_BYTES } from './raw-disk.js';
import { benchEnvelope } from './envelope.js';

const GROUP = 'remote (connect)';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const PEER = fileURLToPath(new URL('./tcp-peer.js', import.meta.url));
const payload = new Uint8Array(RECORD_BYTES).fill(42);
const event = { type: 'Bench', data: payload };
/** Latency run: the fixed offered load, and how many events each timer tick sends. */
export const LATENCY_EVENTS_PER_SECOND = 10_000;
const LATENCY_TICK_MS = 1;
/** Frame size of the raw reference: Ordo's APPEND of one 100-byte event is about this big. */
const RAW_FRAME_BYTES = 12 + 1 + 9 + 2 + 6 + 4 + 44 + 5 + RECORD_BYTES;

/**
 * Ordo through `connect()` to `ordo serve` in another process (fsync always), 100-byte events,
 * beside the raw TCP req/ack limit measured in the same run against a peer process that only
 * acknowledges frames.
 */
export async function benchRemote(options: { dir: string; quick?: boolean }): Promise<BenchRow[]> {
  const quick = options.quick === true;
  const rows: BenchRow[] = benchEnvelope({ quick });
  const rawLimit = await rawRequestAck(quick ? 300_000 : 1_000_000);
  rows.push({
    group: GROUP,
    name: 'raw TCP req/ack, 1 frame/request, 1000 in flight',
    value: rawLimit,
    unit: 'req/s',
    note: 'peer process only acks: the transport limit',
  });
  const add = (name: string, value: number, unit: string, note?: string, ratio = true) => {
    const row: BenchRow = { group: GROUP, name, value, unit };
    if (ratio) row.ratio = { of: 'raw TCP req/ack', value: value / rawLimit };
    if (note) row.note = note;
    rows.push(row);
  };

  const server = await startServerProcess(join(options.dir, 'remote'));
  let log: RemoteEventLog | undefined;
  try {
    log = await connect(server.url, { clientName: 'bench' });
    {
      const seconds = quick ? 1 : 2;
      let count = 0;
      const start = process.hrtime.bigint();
      while (elapsedMs(start) < seconds * 1000) {
        await log.append('sequential', event);
        count++;
      }
      add('append 1 event, sequential', rate(count, elapsedMs(start)), 'events/s', 'each awaits its fdatasync', false);
    }
    add(
      'append 1 event, 1000 in flight',
      await pipelined(log, quick ? 200_000 : 500_000, 1000, 1),
      'events/s',
      'target ≥ 300k',
    );
    add(
      'append 100 events/append, 16 in flight',
      await pipelined(log, quick ? 1_000_000 : 3_000_000, 16, 100),
      'events/s',
      'target ≥ 1M',
      false,
    );
    {
      const head = await log.headPosition();
      const total = Math.min(head + 1, 1_000_000);
      const subscription = log.subscribe({ from: 0 });
      const start = process.hrtime.bigint();
      let count = 0;
      for await (const _ of subscription) if (++count >= total) break;
      add(
        `subscriber catch-up, ${formatNumber(total)} events`,
        rate(count, elapsedMs(start)),
        'events/s',
        'target ≥ 1M',
        false,
      );
    }
    const latency = await endToEndLatency(log, quick ? 2 : 5);
    for (const [p, value] of latency.percentiles) {
      add(
        `append→subscriber latency p${p} at ${formatNumber(LATENCY_EVENTS_PER_SECOND)} ev/s`,
        value,
        'ms',
        p === 50 ? 'target ≤ 0.5 ms' : p === 99 ? 'target ≤ 2 ms' : undefined,
        false,
      );
    }
  } finally {
    await log?.close();
    await server.stop();
  }
  return rows;
}

export async function pipelined(
  log: RemoteEventLog,
  total: number,
  inFlight: number,
  perAppend: number,
): Promise<number> {
  const events = perAppend === 1 ? event : Array.from({ length: perAppend }, () => event);
  let sent = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, k) => {
      while (sent < total) {
        sent += perAppend;
        await log.append(`pipelined-${k % 16}`, events);
      }
    }),
  );
  return rate(sent, elapsedMs(start));
}

/** Appends at a fixed rate; a subscriber in the same process timestamps each arrival (one clock). */
export async function endToEndLatency(
  log: RemoteEventLog,
  seconds: number,
): Promise<{ percentiles: Array<[number, number]> }> {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const subscription = log.subscribe({ from: 'end', filter: { streams: ['latency'] } });
  const sentAt = new Map<number, bigint>();
  // The first second warms up (JIT, buffers) and is not recorded.
  const warmUp = LATENCY_EVENTS_PER_SECOND;
  const total = (seconds + 1) * LATENCY_EVENTS_PER_SECOND;
  const perTick = (LATENCY_EVENTS_PER_SECOND * LATENCY_TICK_MS) / 1000;
  const receiving = (async () => {
    let received = 0;
    for await (const item of subscription) {
      const at = process.hrtime.bigint();
      const seq = new DataView(
        (item as { data: Uint8Array }).data.buffer,
        (item as { data: Uint8Array }).data.byteOffset,
      ).getUint32(0, true);
      const sent = sentAt.get(seq);
      if (sent !== undefined && seq >= warmUp) histogram.recordValue(Number(at - sent) / 1000); // µs
      sentAt.delete(seq);
      if (++received >= total) return;
    }
  })();
  let seq = 0;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      // Send what the schedule says by now: a late tick catches up instead of lowering the rate.
      const due = Math.min(total, Math.floor((elapsedMs(start) / 1000) * LATENCY_EVENTS_PER_SECOND) + perTick);
      while (seq < due) {
        const data = new Uint8Array(RECORD_BYTES);
        new DataView(data.buffer).setUint32(0, seq, true);
        sentAt.set(seq, process.hrtime.bigint());
        void log.append('latency', { type: 'Ping', data });
        seq++;
      }
      if (seq >= total) {
        clearInterval(timer);
        resolve();
      }
    }, LATENCY_TICK_MS);
  });
  await receiving;
  subscription.close();
  return { percentiles: [50, 99, 99.9].map((p) => [p, histogram.getValueAtPercentile(p) / 1000] as [number, number]) };
}

/** The transport's own limit: frames of an append's size, 1000 in flight, acked by a bare peer. */
async function rawRequestAck(total: number): Promise<number> {
  const peer = spawn(process.execPath, [PEER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve) =>
      peer.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    const socket = netConnect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise((resolve) => socket.once('connect', resolve));
    const frame = Buffer.alloc(RAW_FRAME_BYTES);
    frame.writeUInt32LE(RAW_FRAME_BYTES - 4, 0);
    const IN_FLIGHT = 1000;
    let sent = 0;
    let acked = 0;
    let buffered = 0;
    const start = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      const send = (count: number) => {
        // One write per batch of requests: the same coalescing Ordo's client does per turn.
        const n = Math.min(count, total - sent);
        if (n <= 0) return;
        socket.write(Buffer.concat(Array.from({ length: n }, () => frame)));
        sent += n;
      };
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.length;
        const acks = Math.floor(buffered / 36);
        buffered -= acks * 36;
        acked += acks;
        if (acked >= total) resolve();
        else send(acks);
      });
      send(IN_FLIGHT);
    });
    const result = rate(acked, elapsedMs(start));
    socket.destroy();
    return result;
  } finally {
    peer.kill();
  }
}

export async function startServerProcess(
  dir: string,
  args: string[] = ['--port', '0', '--http-port', '0'],
): Promise<{ url: string; stop(): Promise<void>; kill(): void }> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--dir', dir, ...args, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /binary protocol \(TCP\)\s+(\S+)/.exec(text);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`ordo serve exited with ${code}: ${text}`)));
  });
  return {
    url,
    kill: () => child.kill('SIGKILL'),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
