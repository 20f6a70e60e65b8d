import type { AppendOperation, ObservedEvent, ReadOperation } from '../../check/index.js';
import type { OrdoNode } from '../../src/node/index.js';
import { prepareEvents } from '../../src/types/validate.js';
import { NotLeaderError } from '../../src/types/errors.js';
import type { RandomSource } from '../../src/raft/index.js';
import type { VirtualTime } from './virtual-time.js';

/** Errors after which the append was certainly not written; anything else leaves it unknown. */
const DEFINITE_FAILURES = new Set(['WRONG_EXPECTED_COUNT', 'INVALID_ARGUMENT', 'INVALID_EVENT', 'INVALID_STREAM']);
/** A client gives one attempt this long before it re-sends (as `connect()` times out a request), virtual ms. */
export const ATTEMPT_TIMEOUT_MS = 300;
/** A client gives up on an append after this long: its outcome stays unknown, virtual ms. */
export const OPERATION_DEADLINE_MS = 1_500;
/** Pause between a client's operations, and after a NOT_LEADER, virtual ms (uniform in [1, n]). */
const THINK_MS = 12;
/** Pause after a NOT_LEADER that names no leader, virtual ms (uniform in [n, 2n)). */
const ELECTION_BACKOFF_MS = 25;
const MAX_EVENT_BYTES = 1024 * 1024;

const TIMED_OUT: unique symbol = Symbol('timed out');
const DROPPED: unique symbol = Symbol('connection dropped');
type TimedOut = typeof TIMED_OUT;

/** What the workload needs from the cluster: the nodes that run now, and where to record. */
export interface WorkloadHost {
  time: VirtualTime;
  random: RandomSource & { float(): number };
  /** A running node: the one named, if it runs, else a random one; undefined while none runs. */
  node(preferred?: string): { id: string; log: OrdoNode } | undefined;
  /** Whether clients should start new operations. */
  running(): boolean;
  recordAppend(op: AppendOperation): void;
  recordRead(op: ReadOperation): void;
  trace(line: string): void;
  count(what: 'resends' | 'reads' | 'timeouts'): void;
}

/** Resolves with `promise`'s value, or TIMED_OUT after `ms` virtual ms (a node that crashed never answers). */
function within<T>(time: VirtualTime, ms: number, promise: Promise<T>): Promise<T | TimedOut> {
  return Promise.race([promise, time.sleep(ms).then((): TimedOut => TIMED_OUT)]);
}

/** Event ids: a UUID per append, unique within a run and the same in every run of a seed. */
export function eventIdOf(seed: number, n: number): string {
  const s = (seed >>> 0).toString(16).padStart(8, '0');
  return `${s}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/**
 * One client: appends (a third to hot streams with an expected count read just before, so
 * many end in WRONG_EXPECTED_COUNT), with the same event id re-sent as `resent` after a
 * NOT_LEADER or no answer, as `connect()` does; and now and then a linearizable read of the
 * whole log.
 */
export async function clientLoop(host: WorkloadHost, name: string, seed: number, ids: { next: number }): Promise<void> {
  let leader: string | undefined;
  for (let n = 0; host.running(); n++) {
    await host.time.sleep(1 + host.random.int(THINK_MS));
    if (!host.running()) break;
    const roll = host.random.int(10);
    if (roll === 0) {
      await readWholeLog(host, name);
      continue;
    }
    const hot = roll <= 3;
    const stream = hot ? `hot-${host.random.int(2)}` : `s-${host.random.int(8)}`;
    let expected: 'any' | number = 'any';
    if (hot) {
      const target = host.node(leader);
      if (!target) continue;
      const counted = await within(host.time, ATTEMPT_TIMEOUT_MS, target.log.count(stream)).catch(
        (): TimedOut => TIMED_OUT,
      );
      if (counted === TIMED_OUT) continue;
      expected = counted;
    }
    leader = await appendOnce(host, name, stream, expected, eventIdOf(seed, ids.next++), leader, n);
  }
}

/** One append until it is answered or its deadline passes; returns the client's leader guess. */
async function appendOnce(
  host: WorkloadHost,
  name: string,
  stream: string,
  expected: 'any' | number,
  eventId: string,
  leaderGuess: string | undefined,
  n: number,
): Promise<string | undefined> {
  const invokedAt = host.time.now;
  const deadline = invokedAt + OPERATION_DEADLINE_MS;
  let leader = leaderGuess;
  let lastError = 'TIMEOUT';
  for (let attempt = 0; host.time.now < deadline; attempt++) {
    const target = host.node(leader);
    if (!target) {
      await host.time.sleep(1 + host.random.int(THINK_MS));
      continue;
    }
    if (attempt > 0) host.count('resends');
    const events = prepareEvents([{ id: eventId, type: 'Sim', data: { c: name, n } }], MAX_EVENT_BYTES);
    const request = { parts: [{ stream, expected, events }], ack: 'quorum' as const, resent: attempt > 0 };
    const answer = await within(host.time, ATTEMPT_TIMEOUT_MS, target.log.write([request])).catch((e: Error) => [e]);
    const outcome = answer === TIMED_OUT ? TIMED_OUT : answer[0]!;
    const done = (op: Partial<AppendOperation>): string | undefined => {
      host.recordAppend({
        process: name,
        stream,
        eventId,
        expected,
        invokedAt,
        completedAt: host.time.now,
        ...op,
      } as AppendOperation);
      return leader;
    };
    if (outcome === TIMED_OUT) {
      host.count('timeouts');
      leader = undefined;
      continue;
    }
    if (!(outcome instanceof Error)) {
      const part = outcome.parts[0]!;
      host.trace(`${name} ack ${stream}#${part.index} @${part.position}${attempt > 0 ? ` (try ${attempt + 1})` : ''}`);
      return done({ outcome: 'ok', position: part.position, index: part.index });
    }
    const code = (outcome as { code?: string }).code ?? 'UNKNOWN';
    lastError = code;
    if (DEFINITE_FAILURES.has(code)) return done({ outcome: 'failed', error: code });
    leader = outcome instanceof NotLeaderError ? outcome.leader : undefined;
    // No leader known: an election is running, which takes a few election timeouts at worst.
    await host.time.sleep(
      leader === undefined ? ELECTION_BACKOFF_MS + host.random.int(ELECTION_BACKOFF_MS) : 1 + host.random.int(THINK_MS),
    );
  }
  host.trace(`${name} gave up on ${stream} (${lastError})`);
  host.recordAppend({
    process: name,
    stream,
    eventId,
    expected,
    outcome: 'unknown',
    error: lastError,
    invokedAt,
    completedAt: host.time.now,
  });
  return undefined;
}

/** A linearizable read of the whole log on some node, recorded if it completes. */
async function readWholeLog(host: WorkloadHost, name: string): Promise<void> {
  const target = host.node();
  if (!target) return;
  const events = await within(host.time, ATTEMPT_TIMEOUT_MS, collect(target.log)).catch((): TimedOut => TIMED_OUT);
  if (events === TIMED_OUT) return;
  host.count('reads');
  host.recordRead({ process: `${name}@${target.id}`, kind: 'read', from: 0, events });
}

/** Every event of the log, linearizable. */
export async function collect(log: OrdoNode): Promise<ObservedEvent[]> {
  const events: ObservedEvent[] = [];
  for await (const e of log.readAll({ from: 0 }))
    events.push({ position: e.position, stream: e.stream, index: e.index, eventId: e.id });
  return events;
}

/**
 * A subscriber of the whole log: follows one running node, and resumes after its last position
 * on another. It is a client in another process: when its node dies its connection drops, even
 * if the node was part way through a disk read for it (a killed process's reads never return).
 */
export class Subscriber {
  readonly read: ReadOperation;
  private dropCurrent: (() => void) | undefined;
  private stopped = false;

  constructor(readonly name: string) {
    this.read = { process: name, kind: 'subscription', from: 0, events: [] };
  }

  get next(): number {
    return (this.read.events[this.read.events.length - 1]?.position ?? -1) + 1;
  }

  async run(host: WorkloadHost, onSubscribe: (node: string, close: () => void) => () => void): Promise<void> {
    while (!this.stopped) {
      const target = host.node();
      if (!target) {
        await host.time.sleep(10);
        continue;
      }
      let subscription: ReturnType<OrdoNode['subscribe']>;
      try {
        subscription = target.log.subscribe({ from: this.next });
      } catch {
        await host.time.sleep(10);
        continue;
      }
      let drop!: () => void;
      const dropped = new Promise<typeof DROPPED>((resolve) => (drop = () => resolve(DROPPED)));
      const close = () => {
        drop();
        subscription.close();
      };
      this.dropCurrent = close;
      const forget = onSubscribe(target.id, close);
      await this.follow(subscription, dropped);
      forget();
      this.dropCurrent = undefined;
      if (!this.stopped) await host.time.sleep(5 + host.random.int(20));
    }
  }

  /** Records what `subscription` delivers until it ends, fails, or its connection drops. */
  private async follow(
    subscription: ReturnType<OrdoNode['subscribe']>,
    dropped: Promise<typeof DROPPED>,
  ): Promise<void> {
    const items = subscription[Symbol.asyncIterator]();
    try {
      for (;;) {
        const item = await Promise.race([items.next(), dropped]);
        if (item === DROPPED || item.done) return;
        const value = item.value;
        if (!('position' in value)) continue;
        this.read.events.push({
          position: value.position,
          stream: value.stream,
          index: value.index,
          eventId: value.id,
        });
      }
    } catch {
      // Ended with an error (its node closed): what it saw is still checked, and it resumes elsewhere.
    }
  }

  stop(): void {
    this.stopped = true;
    this.dropCurrent?.();
  }
}
