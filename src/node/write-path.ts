import type { LifecycleChange } from '../engine/lifecycle.js';
import {
  ClaimConflictError,
  DiskFullError,
  StreamDeletedError,
  IdConflictError,
  NotLeaderError,
  UnknownOutcomeError,
  WrongExpectedCountError,
} from '../types/errors.js';
import type { AckMode, Event } from '../types/event.js';
import { checkUniqueIds, encodeUtf8Cached, validateStream } from '../types/validate.js';
import { encodeClaimChanges } from '../types/claims.js';
import { decideAppend, type AppendIntent, type Decision, type PlannedAppend } from '../engine/decide.js';
import { applyEvent, positionOf, type AppliedEvent } from '../engine/state.js';
import { countAt } from '../engine/stream-state.js';
import { RandomIds, WriteArena, encodeBatch, type StreamPart as EncodedPart } from './event-codec.js';
import type { EngineFollower } from './engine-follower.js';
import type { Publisher } from './publisher.js';
import type { Replicator } from './replicator.js';
import type { CheckedAppend, WriteOutcome, WriteRequest } from './node-api.js';

/**
 * A stage this large is encoded and handed to storage at once instead of at the end of the
 * tick, so its write and fdatasync overlap the encoding of the appends that follow (one
 * frame per tick would serialize: all CPU, then all disk).
 */
const STAGE_FLUSH_EVENTS = 512;

interface StreamPart extends EncodedPart {
  expected: CheckedAppend['expected'];
  lifecycle: CheckedAppend['lifecycle'];
  gone: CheckedAppend['gone'];
}

/** Appends decided and applied in this tick, waiting to be encoded into one Raft entry. */
interface StagedAppend {
  parts: StreamPart[];
  plan: PlannedAppend[];
  ack: AckMode;
  resolve: (() => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

/**
 * The appends of one `write` call decided 'write': staged together, in position order, under
 * one promise, acknowledged when the strictest ack among them is satisfied (each gets at
 * least what it asked for).
 */
interface WrittenGroup {
  parts: StreamPart[];
  plan: PlannedAppend[];
  at: number[];
  ack: AckMode;
}

/** Ack modes from the weakest to the strictest. */
const ACK_STRICTNESS: Record<AckMode, number> = { none: 0, leader: 1, quorum: 2 };

export interface WritePathOptions {
  /** Milliseconds since the epoch, for event timestamps (read once per batch). */
  clock: () => number;
  /** Randomness for the ids of events appended without one. */
  randomFill: (target: Uint8Array) => void;
  /** The committed event at `position` (to compare ids when a retry's ids left the id window). */
  readEventAt: (position: number) => Promise<Event | undefined>;
  /**
   * Why no append may be proposed now, if one may not: the disk is full (DISK_FULL: decided
   * before anything is proposed, so the failure is definite) or the node stopped.
   */
  writesRefused?: () => Error | undefined;
}

/**
 * The write path, on the leader: decide each append against the engine (which holds every
 * accepted append, committed or not, so pipelined appends see each other), apply it at once,
 * stage it, encode every append staged in one tick into one Raft entry (one CRC, one storage
 * entry, one write for the lot), and acknowledge each once its ack mode is satisfied. Each
 * append keeps its own contiguous positions and the entry is all-or-nothing on disk, so each
 * append still is too.
 */
export class WritePath {
  private staged: StagedAppend[] = [];
  private stageScheduled = false;
  private stagedEvents = 0;
  /** The timestamp of the batch being staged: read once per batch, shared by its events. */
  private stageTimestamp: number | undefined;
  /** Reused for every event applied (applyEvent does not keep it). */
  private readonly applied: AppliedEvent = {
    stream: '',
    index: 0,
    position: 0,
    id: undefined,
    idGenerated: true,
    timestamp: 0,
  };
  private readonly randomIds: RandomIds;
  private readonly arena = new WriteArena();
  /** Appends accepted since open (an appendMany is one), and their events. */
  appends = 0;
  appendedEvents = 0;

  constructor(
    private readonly follower: EngineFollower,
    private readonly publisher: Publisher,
    private readonly replicator: Replicator,
    private readonly options: WritePathOptions,
  ) {
    this.randomIds = new RandomIds(options.randomFill);
  }

  /**
   * The one entry point. Each request is decided on its own and in order, exactly as if
   * written one after the other; the ones decided 'write' share one staged entry and one
   * promise. Duplicates, conflicts and reused ids take the one-by-one path (it
   * decides at once, so the order holds). Resolves with one outcome per request.
   */
  async write(requests: readonly WriteRequest[]): Promise<Array<WriteOutcome | Error>> {
    const stopped = this.stopped();
    if (stopped) return requests.map((request) => refusalOf(request, stopped));
    this.requireLeader();
    const diskFull = this.diskFull();
    const outcomes = new Array<WriteOutcome | Error>(requests.length);
    const group: WrittenGroup = { parts: [], plan: [], at: [], ack: 'none' };
    const others: Array<Promise<void>> = [];
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      let parts: StreamPart[];
      let decision: Decision;
      try {
        parts = request.parts.map(preparePart);
        checkUniqueIds(parts);
        decision = decideAppend(this.follower.engine, intentsOf(parts, request.resent));
      } catch (error) {
        outcomes[i] = error as Error;
        continue;
      }
      if (decision.kind === 'write' && diskFull) {
        outcomes[i] = diskFull; // never proposed: a definite refusal, even for a re-send
        continue;
      }
      if (decision.kind === 'write') {
        this.apply(parts, decision.appends);
        addToGroup(group, parts, decision.appends, i, request.ack);
        outcomes[i] = { parts: decision.appends, written: true };
        continue;
      }
      const settled = this.settle(parts, request, decision);
      others.push(
        this.answer(parts, request, settled).then(
          (outcome) => void (outcomes[i] = outcome),
          (error: Error) => void (outcomes[i] = error),
        ),
      );
    }
    if (group.at.length > 0) others.push(this.stageGroup(group, outcomes));
    await (others.length === 1 ? others[0] : Promise.all(others));
    return outcomes;
  }

  /** Encodes and proposes what this tick staged (done at the end of each tick, and before a close). */
  flush(): void {
    if (this.staged.length > 0) this.flushStaged();
  }

  /** Only the leader decides appends: against its own log, the prefix its entries commit after. */
  private requireLeader(): void {
    if (!this.replicator.isLeader) throw new NotLeaderError('append', this.replicator.leader);
    const engineIndex = this.follower.lastIndex;
    if (engineIndex < this.replicator.nextIndex - 1) this.follower.catchUp(this.replicator.entriesAfter(engineIndex));
  }

  /** The node stopped (a failed fdatasync): it decides nothing more until restarted. */
  private stopped(): Error | undefined {
    const refused = this.options.writesRefused?.();
    return refused && !(refused instanceof DiskFullError) ? refused : undefined;
  }

  /**
   * The disk is full. Checked only for appends that would be written: a re-send of an append
   * already in the log is answered from it, with no write (refusing it would tell the client
   * that an append the log holds was not written).
   */
  private diskFull(): DiskFullError | undefined {
    const refused = this.options.writesRefused?.();
    return refused instanceof DiskFullError ? refused : undefined;
  }

  private stageGroup(group: WrittenGroup, outcomes: Array<WriteOutcome | Error>): Promise<void> {
    return this.stage(group.parts, group.plan, group.ack, group.at.length).then(
      () => undefined,
      (error: Error) => {
        for (const i of group.at) outcomes[i] = error;
      },
    );
  }

  /** One request decided against the engine now (a re-decision, after the first decision found its original gone). */
  private async decideAndSettle(parts: StreamPart[], request: WriteRequest): Promise<WriteOutcome> {
    const stopped = this.stopped();
    if (stopped) throw refusalOf(request, stopped);
    this.requireLeader();
    const decision = decideAppend(this.follower.engine, intentsOf(parts, request.resent));
    if (decision.kind === 'write') {
      const diskFull = this.diskFull();
      if (diskFull) throw diskFull;
      this.apply(parts, decision.appends);
      await this.stage(parts, decision.appends, request.ack);
      return { parts: decision.appends, written: true };
    }
    return this.answer(parts, request, this.settle(parts, request, decision));
  }

  /** A decision other than 'write': the original's result once it is committed as that entry, or the error. */
  private async settle(
    parts: StreamPart[],
    request: WriteRequest,
    decision: Exclude<Decision, { kind: 'write' }>,
  ): Promise<WriteOutcome> {
    switch (decision.kind) {
      case 'duplicate':
        return this.duplicate(parts, request, decision.appends);
      case 'conflict':
        return { parts: await this.conflict(parts, decision), written: false };
      case 'claim-conflict':
        throw new ClaimConflictError(decision.claim.set, decision.claim.value, decision.operation, decision.holder);
      case 'id-reused': {
        const { stream, index, position } = decision.existing;
        throw new IdConflictError(decision.id, { stream, index, position });
      }
      case 'tombstoned':
        throw new StreamDeletedError(decision.stream, parts[decision.intent]!.lifecycle ? 'metadata change' : 'append');
    }
  }

  /**
   * Every id is in the log already where this append asked for it. The original may be staged
   * in this very tick: give it its entry now. If it could not be proposed (leadership moved),
   * the engine forgot it: decide again. The original may be in an entry not committed yet,
   * which another leader's entry may still replace (a re-sent request that reaches a leader
   * about to be deposed): answer with it only once it is committed as that entry. Replaced,
   * it was never written, and this request is decided again.
   */
  private async duplicate(parts: StreamPart[], request: WriteRequest, plan: PlannedAppend[]): Promise<WriteOutcome> {
    const last = lastPositionOf(plan);
    this.flush();
    if (this.follower.engine.nextPosition <= last) return this.decideAndSettle(parts, request);
    if (!(await this.committedAsDecided(last))) return this.decideAndSettle(parts, request);
    await this.publisher.waitCommitted(last);
    return { parts: plan, written: false };
  }

  /** Whether the uncommitted entry holding `position` (if any) commits as the entry the engine holds. */
  private async committedAsDecided(position: number): Promise<boolean> {
    const entry = position > this.publisher.committedPosition ? this.follower.entryHolding(position) : undefined;
    return !entry || this.replicator.committedAs(entry.index, entry.term);
  }

  /**
   * An existsOrWrite whose expected index another writer took first: the event at that index
   * exists. Answer with it once it is committed as that entry; if another leader's replaced
   * it, nothing is there: try again. (The other write may be staged in this tick: give it its
   * entry first, as for a duplicate.)
   */
  private async answer(
    parts: StreamPart[],
    request: WriteRequest,
    attempt: Promise<WriteOutcome>,
  ): Promise<WriteOutcome> {
    if (!request.existsOrWrite) return attempt;
    const part = parts[0]!;
    const expected = part.expected as number;
    try {
      return await attempt;
    } catch (error) {
      if (!(error instanceof WrongExpectedCountError) || error.actual <= expected) throw error;
      this.flush();
      const engine = this.follower.engine;
      const position = positionOf(engine, part.stream, expected);
      if (position === undefined || !(await this.committedAsDecided(position)))
        return this.decideAndSettle(parts, request);
      await this.publisher.waitCommitted(position);
      const count = countAt(engine.streams.get(part.stream), this.publisher.committedPosition);
      return { parts: [{ stream: part.stream, position, index: expected, count }], written: false };
    }
  }

  /**
   * A failed expected-count check may still be a retry whose ids left the id window: compare
   * the ids stored at the asked indexes with the append's.
   */
  private async conflict(
    parts: StreamPart[],
    decision: Extract<Decision, { kind: 'conflict' }>,
  ): Promise<PlannedAppend[]> {
    const part = parts[decision.intent]!;
    const engine = this.follower.engine;
    const index = decision.retryOf?.index ?? 0;
    const first = positionOf(engine, part.stream, index);
    const last = positionOf(engine, part.stream, index + part.events.length - 1);
    // Positions retention or a gone floor forgot belong to events no retry can be matched with.
    if (decision.retryOf && parts.length === 1 && first !== undefined && last !== undefined) {
      await this.publisher.waitCommitted(last);
      let same = true;
      for (let k = 0; k < part.events.length && same; k++) {
        // Ids made without a string (a client's, past its retry key) are not compared: the key stands for them.
        const id = part.events[k]!.id;
        if (id === undefined) continue;
        const stored = await this.options.readEventAt(positionOf(engine, part.stream, index + k)!);
        same = stored?.id === id;
      }
      if (same) return [{ stream: part.stream, position: first, index, count: index + part.events.length }];
    }
    throw new WrongExpectedCountError(decision.stream, decision.expected, decision.actual);
  }

  /** Applies a decided append to the engine at once, so the next decision sees it. */
  private apply(parts: StreamPart[], plan: PlannedAppend[]): void {
    const applied = this.applied;
    applied.timestamp = this.clockForStage();
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p]!;
      const planned = plan[p]!;
      applied.stream = part.stream;
      for (let k = 0; k < part.events.length; k++) {
        const event = part.events[k]!;
        applied.index = planned.index + k;
        applied.position = planned.position + k;
        applied.id = event.id;
        applied.idGenerated = event.idGenerated;
        applied.retryKey = event.retryKey === true;
        applied.claims = k === 0 ? part.claims?.changes : undefined;
        applied.lifecycle = k === 0 ? part.lifecycle?.change : undefined;
        applied.gone = k === 0 ? part.gone : undefined;
        applyEvent(this.follower.engine, applied);
      }
    }
  }

  /**
   * Stages `appends` applied appends (parts[i] planned at plan[i]); every append staged in the
   * same tick is encoded into one batch frame by `flushStaged`. Resolves once acknowledged.
   */
  private stage(parts: StreamPart[], plan: PlannedAppend[], ack: AckMode, appends = 1): Promise<unknown> {
    if (!this.stageScheduled) {
      this.stageScheduled = true;
      queueMicrotask(this.endOfTick);
    }
    let events = 0;
    for (let p = 0; p < plan.length; p++) events += plan[p]!.count - plan[p]!.index;
    this.stagedEvents += events;
    this.appends += appends;
    this.appendedEvents += events;
    let result: Promise<unknown>;
    if (ack === 'none') {
      this.staged.push({ parts, plan, ack, resolve: undefined, reject: undefined });
      result = Promise.resolve();
    } else {
      result = new Promise<void>((resolve, reject) => this.staged.push({ parts, plan, ack, resolve, reject }));
    }
    if (this.stagedEvents >= STAGE_FLUSH_EVENTS) this.flushStaged();
    return result;
  }

  private readonly endOfTick = (): void => {
    this.stageScheduled = false;
    this.flushStaged();
  };

  private clockForStage(): number {
    if (this.stageTimestamp === undefined) this.stageTimestamp = this.options.clock();
    return this.stageTimestamp;
  }

  /** One Raft entry for everything staged, encoded for the index and term it will take; acknowledged by ack mode. */
  private flushStaged(): void {
    const staged = this.staged;
    this.staged = [];
    this.stagedEvents = 0;
    const timestamp = this.clockForStage();
    this.stageTimestamp = undefined;
    if (staged.length === 0) return;
    const { parts, plan } = concatStaged(staged);
    const first = plan[0]!.position;
    let proposed: ReturnType<Replicator['propose']>;
    try {
      proposed = this.replicator.propose('append', (term, entryIndex) =>
        encodeBatch(parts, plan, term, entryIndex, timestamp, this.randomIds, this.arena),
      );
    } catch (error) {
      // Leadership moved between the decision and now: nothing was written; the engine forgets them.
      this.follower.unpropose(first);
      for (const append of staged) append.reject?.(error as Error);
      return;
    }
    this.follower.proposed(proposed.index, proposed.term, first);
    acknowledge(staged, proposed);
  }
}

function preparePart(append: CheckedAppend): StreamPart {
  // Metadata and scavenge streams are Ordo's: only lifecycleAppend and scavengePointAppend write them.
  const stream = append.lifecycle || append.gone ? append.stream : validateStream(append.stream);
  const claims = append.claims && { changes: append.claims, bytes: encodeClaimChanges(append.claims) };
  return {
    stream,
    streamBytes: encodeUtf8Cached(stream),
    expected: append.expected,
    events: append.events,
    claims,
    lifecycle: append.lifecycle,
    gone: append.gone,
  };
}

function erases(change: LifecycleChange | undefined): boolean {
  return change?.kind === 'tombstone' && change.erase === true;
}

function intentsOf(parts: readonly StreamPart[], resent: boolean): AppendIntent[] {
  return parts.map((part) => ({
    stream: part.stream,
    expected: part.expected,
    ids: part.events,
    resent,
    claims: part.claims?.changes,
    expectedOf: part.lifecycle?.expectedOf,
    erases: erases(part.lifecycle?.change),
  }));
}

function addToGroup(group: WrittenGroup, parts: StreamPart[], plan: PlannedAppend[], at: number, ack: AckMode): void {
  for (let p = 0; p < parts.length; p++) {
    group.parts.push(parts[p]!);
    group.plan.push(plan[p]!);
  }
  group.at.push(at);
  if (ACK_STRICTNESS[ack] > ACK_STRICTNESS[group.ack]) group.ack = ack;
}

function concatStaged(staged: readonly StagedAppend[]): { parts: StreamPart[]; plan: PlannedAppend[] } {
  const parts: StreamPart[] = [];
  const plan: PlannedAppend[] = [];
  for (const append of staged) {
    for (let p = 0; p < append.parts.length; p++) {
      parts.push(append.parts[p]!);
      plan.push(append.plan[p]!);
    }
  }
  return { parts, plan };
}

/** Resolves 'leader' acks once this node's write is durable, the rest once the entry is committed. */
function acknowledge(
  staged: readonly StagedAppend[],
  proposed: { written: Promise<void>; committed: Promise<void> },
): void {
  const fail = (error: Error): void => {
    for (const append of staged) append.reject?.(error);
  };
  let leaderAcks: Array<() => void> | undefined;
  const quorumAcks: Array<() => void> = [];
  for (const append of staged) {
    if (!append.resolve) continue;
    if (append.ack === 'leader') (leaderAcks ??= []).push(append.resolve);
    else quorumAcks.push(append.resolve);
  }
  if (leaderAcks) proposed.written.then(() => leaderAcks!.forEach((resolve) => resolve()), fail);
  proposed.committed.then(() => quorumAcks.forEach((resolve) => resolve()), fail);
}

/** Position of the last event of a planned (contiguous) append. */
function lastPositionOf(plan: readonly PlannedAppend[]): number {
  const last = plan[plan.length - 1]!;
  return last.position + (last.count - last.index) - 1;
}

/**
 * What a stopped node answers without looking at the request: the failure for a first send;
 * for a re-send, an unknown outcome, since an earlier send may have been written elsewhere.
 */
function refusalOf(request: WriteRequest, stopped: Error): Error {
  if (!request.resent) return stopped;
  return new UnknownOutcomeError(
    `${stopped.message}; this node did not look at this re-sent append: an earlier send may be written, so re-send it with the same event ids to a running node`,
    stopped,
  );
}
