import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import { connect } from '../src/client/index.js';
import { eventJson } from '../src/types/json.js';
import { startServerProcess } from './remote.js';
import type { BenchRow } from './report.js';

const GROUP = 'transform';
const WORKER = fileURLToPath(new URL('./transform-worker.js', import.meta.url));
/** Inputs per second, and how long each run records after a warm-up second. */
const INPUTS_PER_SECOND = 500;
/** A GC-like pause of one instance: this long, this often. */
const PAUSE_MS = 200;
const PAUSE_EVERY_MS = 1_000;

/**
 * How fast do outputs appear when 1, 2 or 3 instances of a deterministic transform compete
 * (each output written once with existsOrWrite), and what does a long pause of one instance (a
 * GC pause, say) cost when others compete? Each instance is its own process, a client of one
 * `ordo serve`; latency is from the input's append to its output reaching a subscriber.
 */
export async function benchTransform(options: { dir: string; quick?: boolean }): Promise<BenchRow[]> {
  const seconds = options.quick ? 2 : 5;
  const rows: BenchRow[] = [];
  const runs: Array<{ instances: number; pauses: boolean }> = [
    { instances: 1, pauses: false },
    { instances: 2, pauses: false },
    { instances: 3, pauses: false },
    { instances: 2, pauses: true },
    { instances: 3, pauses: true },
  ];
  let reference: number | undefined;
  for (const [i, run] of runs.entries()) {
    const server = await startServerProcess(join(options.dir, `transform-${i}`));
    try {
      const { p50, p99 } = await measure(server.url, run.instances, run.pauses, seconds);
      const paused = run.pauses ? `, one paused ${PAUSE_MS} ms every ${PAUSE_EVERY_MS / 1000} s` : '';
      const label = `${run.instances} instance${run.instances > 1 ? 's' : ''}${paused}`;
      reference ??= p50;
      rows.push({
        group: GROUP,
        name: `output latency p50, ${label}`,
        value: p50,
        unit: 'ms',
        ...(i > 0 ? { ratio: { of: '1 instance', value: p50 / reference } } : {}),
      });
      rows.push({ group: GROUP, name: `output latency p99, ${label}`, value: p99, unit: 'ms' });
    } finally {
      await server.stop();
    }
  }
  return rows;
}

async function measure(
  url: string,
  instances: number,
  pauses: boolean,
  seconds: number,
): Promise<{ p50: number; p99: number }> {
  const workers: ChildProcess[] = [];
  for (let k = 0; k < instances; k++) {
    const child = spawn(process.execPath, [WORKER, url], { stdio: ['ignore', 'pipe', 'inherit'] });
    workers.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`transform worker exited with ${code}`)));
    });
  }
  const log = await connect(url, { clientName: 'bench' });
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let pauser: NodeJS.Timeout | undefined;
  try {
    const total = (seconds + 1) * INPUTS_PER_SECOND;
    const sentAt = new Map<number, bigint>();
    const outputs = log.subscribe({ from: 'end', filter: { streams: ['out'] } });
    const receiving = (async () => {
      let received = 0;
      for await (const item of outputs) {
        if (!('position' in item)) continue;
        const seq = eventJson<{ seq: number }>(item).seq;
        const sent = sentAt.get(seq);
        if (sent !== undefined && seq >= INPUTS_PER_SECOND)
          histogram.recordValue(Number(process.hrtime.bigint() - sent) / 1000);
        if (++received >= total) return;
      }
    })();
    if (pauses) {
      // SIGSTOP one instance (the first: it started first, so it tends to win the writes).
      pauser = setInterval(() => {
        workers[0]!.kill('SIGSTOP');
        setTimeout(() => workers[0]!.kill('SIGCONT'), PAUSE_MS);
      }, PAUSE_EVERY_MS);
    }
    const start = process.hrtime.bigint();
    for (let seq = 0; seq < total; seq++) {
      const due = start + BigInt(Math.round((seq * 1e9) / INPUTS_PER_SECOND));
      const wait = Number(due - process.hrtime.bigint()) / 1e6;
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      sentAt.set(seq, process.hrtime.bigint());
      void log.append('in', { type: 'In', data: { seq } });
    }
    const timeout = new Promise<void>((_, reject) =>
      setTimeout(() => reject(new Error('outputs did not all arrive within 60 s')), 60_000).unref(),
    );
    await Promise.race([receiving, timeout]);
    outputs.close();
    return { p50: histogram.getValueAtPercentile(50) / 1000, p99: histogram.getValueAtPercentile(99) / 1000 };
  } finally {
    if (pauser) clearInterval(pauser);
    for (const child of workers) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await log.close();
  }
}
