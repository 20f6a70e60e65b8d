import { randomUUID } from 'node:crypto';
import type { AppendOperation, ObservedEvent, ReadOperation } from '../check/index.js';
import type { EventLog } from '../src/types/index.js';
import type { RandomSource } from '../src/raft/index.js';

/** Errors after which the append was certainly not written; anything else leaves it unknown. */
const DEFINITE_FAILURES = new Set([
  'WRONG_EXPECTED_COUNT',
  'INVALID_ARGUMENT',
  'INVALID_EVENT',
  'INVALID_STREAM',
  'EVENT_TOO_LARGE',
  'STREAM_DELETED',
]);

/** Streams that only take appends, deletes and tombstones expecting them empty (see lifecycleOnce). */
const VOID_STREAMS = 4;
/** Far above any stream's count in a run: metadata that never hides an event from the checker. */
const NEVER_HIDING_MAX_COUNT = 1_000_000_000;

export interface WorkloadOptions {
  /** Streams appended to with `expected: 'any'`. */
  streams: number;
  /** Hot streams appended to with an expected count (read the count, then append with it). */
  hotStreams: number;
  /** Share of appends that use an expected count. */
  expectedShare: number;
  /** Share of operations that change a stream's lifecycle or append to a `void-*` stream. */
  lifecycleShare: number;
  /** Ends the loops (every loop also stops at `maxOperations`). */
  deadline: number;
  maxOperations: number;
}

/**
 * One client's loop: appends, each recorded with how it ended. Expected-count appends read the
 * stream's count first (linearizable), so under contention many end in WRONG_EXPECTED_COUNT,
 * which is a definite failure; a timeout or an unreachable cluster leaves the outcome unknown.
 */
export async function appendLoop(
  process: string,
  log: EventLog,
  random: RandomSource & { float(): number },
  options: WorkloadOptions,
  started: number,
  record: (op: AppendOperation) => void,
): Promise<void> {
  for (let n = 0; n < options.maxOperations && Date.now() < options.deadline; n++) {
    const lifecycle = random.float() < options.lifecycleShare;
    if (lifecycle && random.int(2) === 0) {
      await lifecycleOnce(log, random, options, n);
      continue;
    }
    const hot = !lifecycle && random.float() < options.expectedShare;
    let stream = hot ? `hot-${random.int(options.hotStreams)}` : `s-${random.int(options.streams)}`;
    let expected: 'any' | number = 'any';
    if (lifecycle) {
      stream = `void-${random.int(VOID_STREAMS)}`;
      expected = 0;
    } else if (hot) {
      try {
        expected = await log.count(stream);
      } catch {
        await pause(50);
        continue; // no read point now (an election): try another operation
      }
    }
    const eventId = randomUUID();
    const invokedAt = Date.now() - started;
    try {
      const result = await log.append(stream, { id: eventId, type: 'Chaos', data: { process, n } }, { expected });
      record({
        process,
        stream,
        eventId,
        expected,
        outcome: 'ok',
        position: result.position,
        index: result.index,
        invokedAt,
        completedAt: Date.now() - started,
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'UNKNOWN';
      record({
        process,
        stream,
        eventId,
        expected,
        outcome: DEFINITE_FAILURES.has(code) ? 'failed' : 'unknown',
        error: code,
        invokedAt,
        completedAt: Date.now() - started,
      });
      if (!DEFINITE_FAILURES.has(code)) await pause(20);
    }
  }
}

/** Every stream the workload writes or changes the lifecycle of (for checkLifecycles). */
export function lifecycleStreams(options: WorkloadOptions): string[] {
  const named = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  return [...named('hot', options.hotStreams), ...named('s', options.streams), ...named('void', VOID_STREAMS)];
}

/**
 * One lifecycle change that hides nothing (the checker needs every position): metadata with a
 * maxCount no stream reaches, or a soft delete, a tombstone or an erasure of a `void-*` stream
 * expecting it empty (so it lands only on a stream without events; an erasure still seals every
 * node's active segment and runs a pass). Its outcome is not part of the history:
 * checkLifecycles compares every node's view with the metadata streams after healing.
 */
async function lifecycleOnce(log: EventLog, random: RandomSource, options: WorkloadOptions, n: number): Promise<void> {
  try {
    const target = `void-${random.int(VOID_STREAMS)}`;
    switch (random.int(4)) {
      case 0: {
        const stream =
          random.int(2) === 0 ? `hot-${random.int(options.hotStreams)}` : `s-${random.int(options.streams)}`;
        const { metadataCount } = await log.getStreamMetadata(stream);
        const metadata = { maxCount: NEVER_HIDING_MAX_COUNT, custom: { n } };
        await log.setStreamMetadata(stream, metadata, { expected: metadataCount });
        return;
      }
      case 1:
        await log.deleteStream(target, { expected: 'empty', tombstone: true });
        return;
      case 2:
        await log.erase(target, { expected: 'empty' });
        return;
      default:
        await log.deleteStream(target, { expected: 'empty' });
    }
  } catch {
    await pause(20); // a conflict, a tombstone, or an election: the next operation goes on
  }
}

/**
 * A subscriber of the whole log from position 0: records every event in the order it came.
 * The client resumes after its last position across reconnects and failovers.
 */
export function subscribeAll(process: string, log: EventLog): { read: ReadOperation; stop(): Promise<void> } {
  const events: ObservedEvent[] = [];
  const subscription = log.subscribe({ from: 0 });
  const done = (async () => {
    try {
      for await (const item of subscription) {
        if (!('position' in item)) continue;
        events.push({ position: item.position, stream: item.stream, index: item.index, eventId: item.id });
      }
    } catch {
      // The subscription ended with an error: what it saw is still checked.
    }
  })();
  return {
    read: { process, kind: 'subscription', from: 0, events },
    stop: async () => {
      subscription.close();
      await done;
    },
  };
}

/** Reads the whole log (linearizable), as the final read after healing. */
export async function readWholeLog(
  process: string,
  log: EventLog,
  kind: ReadOperation['kind'],
): Promise<ReadOperation> {
  const events: ObservedEvent[] = [];
  for await (const event of log.readAll({ from: 0 }))
    events.push({ position: event.position, stream: event.stream, index: event.index, eventId: event.id });
  return { process, kind, from: 0, events };
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
