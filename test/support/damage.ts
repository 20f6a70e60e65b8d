import { open as openFile } from 'node:fs/promises';
import { open, type NodeStatus } from '../../src/node/index.js';
import type { OpenOptions } from '../../src/node/options.js';
import type { Timers, TimerHandle } from '../../src/node/environment.js';

/** Bytes of each event's data: about fifteen events fill a 4 KiB segment. */
const EVENT_DATA_BYTES = 200;
/** Where a flipped byte lands in a batch: past its 8-byte prefix and 40-byte header, in its record. */
const BYTE_INTO_BATCH = 100;
const SEGMENT_HEADER_BYTES = 24;
const BATCH_PREFIX_BYTES = 8;

/** A log of `events` events, one per stream `s0`, `s1`, …, in 4 KiB segments; returns its segments. */
export async function writeSegmentedLog(dir: string, events: number): Promise<NodeStatus['segments']> {
  const log = await open(dir, { segmentBytes: 4096, scrub: false });
  for (let i = 0; i < events; i++)
    await log.append(`s${i}`, { type: 'T', data: { pad: 'x'.repeat(EVENT_DATA_BYTES) } });
  const segments = log.status().segments;
  await log.close();
  return segments;
}

/** Flips one byte inside the first batch of `file` (a sealed segment): bit rot the index file does not notice. */
export async function flipByteOfFirstBatch(file: string): Promise<number> {
  const handle = await openFile(file, 'r+');
  try {
    const at = SEGMENT_HEADER_BYTES + BYTE_INTO_BATCH;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, at);
  } finally {
    await handle.close();
  }
  return SEGMENT_HEADER_BYTES; // the damaged batch starts right after the segment header
}

/**
 * Writes the first batch of `from` over the first batch of `to` (the same length): a misdirected
 * write. The batch is whole and its checksum right, but it is not the entry that belongs there.
 */
export async function copyFirstBatch(from: string, to: string): Promise<number> {
  const source = await openFile(from, 'r');
  const prefix = Buffer.alloc(4);
  let batch: Buffer;
  try {
    await source.read(prefix, 0, 4, SEGMENT_HEADER_BYTES);
    batch = Buffer.alloc(BATCH_PREFIX_BYTES + prefix.readUInt32LE(0));
    await source.read(batch, 0, batch.length, SEGMENT_HEADER_BYTES);
  } finally {
    await source.close();
  }
  const target = await openFile(to, 'r+');
  try {
    const existing = Buffer.alloc(4);
    await target.read(existing, 0, 4, SEGMENT_HEADER_BYTES);
    if (existing.readUInt32LE(0) !== prefix.readUInt32LE(0)) throw new Error('the two batches differ in length');
    await target.write(batch, 0, batch.length, SEGMENT_HEADER_BYTES);
  } finally {
    await target.close();
  }
  return SEGMENT_HEADER_BYTES;
}

/** Options for a log under test: the given ones, small segments. */
export function smallSegments(options: OpenOptions = {}): OpenOptions {
  return { segmentBytes: 4096, ...options };
}

interface PendingTimer {
  at: number;
  callback: () => void;
  every: number | undefined;
}

/**
 * Timers on virtual time: nothing fires until the test moves time on, so a test decides
 * exactly when the node's timers run and how much time passed.
 */
export class VirtualTimers implements Timers {
  now = 0;
  private nextId = 1;
  private readonly pending = new Map<number, PendingTimer>();

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.add(callback, ms, undefined);
  }

  setInterval(callback: () => void, ms: number): TimerHandle {
    return this.add(callback, ms, Math.max(1, ms));
  }

  clearTimeout(handle: unknown): void {
    if (handle instanceof VirtualHandle) this.pending.delete(handle.id);
  }

  clearInterval(handle: unknown): void {
    this.clearTimeout(handle);
  }

  hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Moves time to the earliest pending timer and runs it; false when none is pending. */
  fireNext(): boolean {
    let earliest: [number, PendingTimer] | undefined;
    for (const entry of this.pending) if (!earliest || entry[1].at < earliest[1].at) earliest = entry;
    if (!earliest) return false;
    const [id, timer] = earliest;
    this.now = Math.max(this.now, timer.at);
    if (timer.every === undefined) this.pending.delete(id);
    else timer.at += timer.every;
    timer.callback();
    return true;
  }

  private add(callback: () => void, ms: number, every: number | undefined): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { at: this.now + Math.max(0, ms), callback, every });
    return new VirtualHandle(id);
  }
}

class VirtualHandle implements TimerHandle {
  constructor(readonly id: number) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** Real milliseconds a run waits at most for the disk while no timer is pending. */
const IO_WAITS_MAX = 5_000;

/**
 * Runs virtual time on until `done()` holds: between two timers, real I/O (the disk) gets a
 * few turns of the event loop. Throws after `maxTimers` timers, so a test never hangs.
 */
export async function runUntil(timers: VirtualTimers, done: () => boolean, maxTimers = 50_000): Promise<void> {
  for (let fired = 0; fired < maxTimers; fired++) {
    for (let turn = 0; turn < 3 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve));
    // No timer pending: the node waits on the disk, which takes real time.
    for (let wait = 0; wait < IO_WAITS_MAX && !done() && !timers.hasPending(); wait++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    if (done()) return;
    if (!timers.fireNext()) throw new Error('no timer pending, and the condition does not hold');
  }
  throw new Error(`the condition did not hold after ${maxTimers} timers (virtual time ${timers.now} ms)`);
}
