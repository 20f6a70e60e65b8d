import type { AppendOperation, ObservedEvent, ReadOperation } from '../../check/index.js';
import type { OrdoNode } from '../../src/node/index.js';
import { prepareEvents } from '../../src/types/validate.js';
import { NotLeaderError, PositionTrimmedError } from '../../src/types/errors.js';
import type { RandomSource } from '../../src/raft/index.js';
import type { VirtualTime } from './virtual-time.js';
import { lifecycleAppend, lifecycleEvent } from '../../src/node/lifecycle-events.js';
import { planLifecycleCall, type Ask, type LifecycleCall } from './lifecycle-workload.js';

/**
 * Errors after which the append was certainly not written, as a client takes them; anything
 * else leaves it unknown. They hold for a re-send too (its original was not written either):
 * the node answers them after looking the ids up (DISK_FULL only for an append it would write),
 * and a stopped node answers a re-send UNKNOWN_OUTCOME, not STORAGE_FAILED.
 */
const DEFINITE_FAILURES = new Set([
  'WRONG_EXPECTED_COUNT',
  'INVALID_ARGUMENT',
  'INVALID_EVENT',
  'INVALID_STREAM',
  'DISK_FULL',
  'STORAGE_FAILED',
  'STREAM_DELETED',
]);
/** A client gives one attempt this long before it re-sends (as `connect()` times out a request), virtual ms. */
export const ATTEMPT_TIMEOUT_MS = 300;
/** A client gives up on an append after this long: its outcome stays unknown, virtual ms. */
export const OPERATION_DEADLINE_MS = 1_500;
/** Pause between a client's operations, and after a NOT_LEADER, virtual ms (uniform in [1, n]). */
const THINK_MS = 12;
/** Pause after a NOT_LEADER that names no leader, virtual ms (uniform in [n, 2n)). */
const ELECTION_BACKOFF_MS = 25;
const MAX_EVENT_BYTES = 1024 * 1024;
/**
 * Share of appends whose first answer the client never gets (its connection dropped as the
 * answer left): it reconnects and re-sends, marked as a re-send, after a pause uniform in
 * [min, max) virtual ms, long enough for a node to crash and come back in between, while it
 * goes on with its next operations (its deadline counts from the first send).
 */
const LOST_ANSWER_SHARE = 0.2;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 800;

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
  count(what: 'resends' | 'reads' | 'timeouts' | 'lostAnswers'): void;
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
 * whole log. Every other append's id is one the client library made up (a retry key, which
 * the log remembers apart from writers' ids), the others' the writer's own.
 */
export async function clientLoop(host: WorkloadHost, name: string, seed: number, ids: { next: number }): Promise<void> {
  let leader: string | undefined;
  /** Re-sends of appends whose answer was lost, running beside the client's next operations. */
  const resends: Array<Promise<unknown>> = [];
  for (let n = 0; host.running(); n++) {
    await host.time.sleep(1 + host.random.int(THINK_MS));
    if (!host.running()) break;
    const roll = host.random.int(10);
    if (roll === 0) {
      await readWholeLog(host, name);
      continue;
    }
    if (roll === 4) {
      const ask: Ask = async (question) => {
        const target = host.node(leader);
        if (!target) return undefined;
        const answer = await within(host.time, ATTEMPT_TIMEOUT_MS, question(target.log)).catch(
          (): TimedOut => TIMED_OUT,
        );
        return answer === TIMED_OUT ? undefined : answer;
      };
      const planned = await planLifecycleCall(host.random, ask, n);
      if (!planned) continue;
      const call = { name, ...planned, eventId: eventIdOf(seed, ids.next), retryKey: ids.next % 2 === 1 };
      ids.next++;
      leader = await appendOnce(host, { ...call, n, invokedAt: host.time.now, resends }, leader, 0);
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
    const eventId = eventIdOf(seed, ids.next);
    const call = {
      name,
      stream,
      expected,
      eventId,
      retryKey: ids.next % 2 === 1,
      n,
      invokedAt: host.time.now,
      resends,
    };
    ids.next++;
    leader = await appendOnce(host, call, leader, 0);
  }
  await Promise.all(resends);
}

/** One append as the client sent it. */
interface AppendCall {
  name: string;
  /** The stream written (for a lifecycle change, the metadata stream). */
  stream: string;
  /** A lifecycle change instead of an event (see lifecycle-workload.ts). */
  lifecycle?: LifecycleCall | undefined;
  expected: 'any' | number;
  eventId: string;
  /** The id is one the client library made up: the append's retry key. */
  retryKey: boolean;
  n: number;
  invokedAt: number;
  /** Where a re-send after a lost answer goes, to be awaited before the history is checked. */
  resends: Array<Promise<unknown>>;
}

/**
 * One append from attempt `first` until it is answered or its deadline passes; returns the
 * client's leader guess. An answer the client loses is re-sent in the background after a
 * reconnect pause, and recorded when that re-send is answered.
 */
async function appendOnce(
  host: WorkloadHost,
  call: AppendCall,
  leaderGuess: string | undefined,
  first: number,
): Promise<string | undefined> {
  const { name, stream, expected, eventId, invokedAt } = call;
  const deadline = invokedAt + OPERATION_DEADLINE_MS;
  let leader = leaderGuess;
  let lastError = 'TIMEOUT';
  for (let attempt = first; host.time.now < deadline; attempt++) {
    const target = host.node(leader);
    if (!target) {
      await host.time.sleep(1 + host.random.int(THINK_MS));
      continue;
    }
    if (attempt > 0) host.count('resends');
    const outcome = await sendOnce(host, call, target.log, attempt);
    if (outcome === TIMED_OUT) {
      host.count('timeouts');
      leader = undefined;
      continue;
    }
    const record = (op: Partial<AppendOperation>): string | undefined => {
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
    if (!(outcome instanceof Error)) {
      if (first === 0 && host.random.float() < LOST_ANSWER_SHARE) {
        host.count('lostAnswers');
        const pause = RECONNECT_MIN_MS + host.random.int(RECONNECT_MAX_MS - RECONNECT_MIN_MS);
        call.resends.push(host.time.sleep(pause).then(() => appendOnce(host, call, undefined, attempt + 1)));
        return leader;
      }
      const part = outcome.parts[0]!;
      host.trace(`${name} ack ${stream}#${part.index} @${part.position}${attempt > 0 ? ` (try ${attempt + 1})` : ''}`);
      return record({ outcome: 'ok', position: part.position, index: part.index });
    }
    const code = (outcome as { code?: string }).code ?? 'UNKNOWN';
    lastError = code;
    if (DEFINITE_FAILURES.has(code)) return record({ outcome: 'failed', error: code });
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

/** Sends attempt `attempt` of `call` to `log`: its answer, or TIMED_OUT. */
async function sendOnce(
  host: WorkloadHost,
  call: AppendCall,
  log: OrdoNode,
  attempt: number,
): Promise<Awaited<ReturnType<OrdoNode['write']>>[number] | Error | TimedOut> {
  const lifecycle = call.lifecycle;
  const events = lifecycle
    ? [lifecycleEvent(lifecycle.change, call.eventId)]
    : prepareEvents([{ id: call.eventId, type: 'Sim', data: { c: call.name, n: call.n } }], MAX_EVENT_BYTES);
  if (call.retryKey) events[0]!.retryKey = true;
  const part = lifecycle
    ? lifecycleAppend(lifecycle.target, lifecycle.change, lifecycle.expected, events[0])
    : { stream: call.stream, expected: call.expected, events };
  const request = {
    parts: [part],
    ack: 'quorum' as const,
    resent: attempt > 0,
  };
  const answer = await within(host.time, ATTEMPT_TIMEOUT_MS, log.write([request])).catch((e: Error) => [e]);
  return answer === TIMED_OUT ? TIMED_OUT : answer[0]!;
}

/** A linearizable read of the whole log on some node, recorded if it completes. */
async function readWholeLog(host: WorkloadHost, name: string): Promise<void> {
  const target = host.node();
  if (!target) return;
  const read = await within(host.time, ATTEMPT_TIMEOUT_MS, collect(target.log)).catch((): TimedOut => TIMED_OUT);
  if (read === TIMED_OUT) return;
  host.count('reads');
  host.recordRead({ process: `${name}@${target.id}`, kind: 'read', ...read });
}

/** What a read of the whole log saw, and the position it started at (the log's start then). */
export interface WholeLog {
  from: number;
  events: ObservedEvent[];
}

/** Retention may remove the start of a read under way this many times before the read gives up. */
const TRIMMED_RETRIES = 3;

/**
 * Every event the node's log still holds, linearizable, from its first position: read from
 * the position the node gives, and again from the new one if retention removes it meanwhile.
 */
export async function collect(log: OrdoNode): Promise<WholeLog> {
  for (let attempt = 0; ; attempt++) {
    const from = log.firstPosition;
    try {
      const events: ObservedEvent[] = [];
      for await (const e of log.readAll({ from }))
        events.push({ position: e.position, stream: e.stream, index: e.index, eventId: e.id });
      return { from, events };
    } catch (error) {
      if (!(error instanceof PositionTrimmedError) || attempt >= TRIMMED_RETRIES) throw error;
    }
  }
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
  /** Where it goes on from: after its last event, or the start of the log once that was removed. */
  private resumeAt = 0;

  constructor(readonly name: string) {
    this.read = { process: name, kind: 'subscription', from: 0, events: [], restarts: [] };
  }

  /** The next position it waits for. */
  get next(): number {
    return this.resumeAt;
  }

  /** The last position it saw (`from - 1` before the first). */
  private get last(): number {
    return this.read.events[this.read.events.length - 1]?.position ?? this.read.from - 1;
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
        subscription = this.subscribe(target.log);
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

  /**
   * From its next position; when the node's log starts after it (retention removed it), from
   * the log's start, as a consumer without history of its own does: that restart is recorded.
   */
  private subscribe(log: OrdoNode): ReturnType<OrdoNode['subscribe']> {
    const first = log.firstPosition;
    if (this.resumeAt >= first) return log.subscribe({ from: this.resumeAt });
    const subscription = log.subscribe({ from: 'start' });
    this.read.restarts!.push({ after: this.last, from: first });
    this.resumeAt = first;
    return subscription;
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
        this.resumeAt = value.position + 1;
      }
    } catch {
      // Ended with an error (its node closed, or retention removed what it had yet to read):
      // what it saw is still checked, and it resumes elsewhere (from the log's start if need be).
    }
  }

  stop(): void {
    this.stopped = true;
    this.dropCurrent?.();
  }
}
