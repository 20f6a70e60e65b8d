import { randomInt } from 'node:crypto';
import {
  RawNode,
  ProposalDroppedError,
  NONE,
  type ConfigState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftStatus,
  type Ready,
  type RandomSource,
} from '../raft/index.js';
import { decodeConfigEntry, type Snapshot } from '../raft/index.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import { invariantFailed } from '../engine/index.js';
import { NotLeaderError, StorageFailedError } from '../types/errors.js';
import type { RaftWindow } from './raft-window.js';
import { saveRaftState, type RaftState } from './raft-state-file.js';
import { batchOfEntry, entryOfBatch } from './batch-entry.js';
import { SNAPSHOT_CHUNK_BYTES, SnapshotFetch, readStaged, removeStaging, type SnapshotFrame, type StagedSnapshot } from './snapshot-transfer.js';

/** Sends Raft messages and snapshot chunks to peers; `deliver` is how theirs come in. */
export interface PeerTransport {
  send(messages: readonly Message[]): void;
  sendSnapshotFrame(frame: SnapshotFrame): void;
  close(): Promise<void>;
}

/** What happened to a snapshot, for logs: offered to a follower, installed here, or given up. */
export type SnapshotEvent =
  | { kind: 'offered'; peer: NodeId; index: number }
  | { kind: 'installed'; peer: NodeId; index: number; entries: number; bytes: number; ms: number }
  | { kind: 'failed'; peer: NodeId; index: number; reason: string };

/** What the log does as entries move through Raft (the replicator knows batches, not events). */
export interface ReplicatorHooks {
  /** An entry entered this node's log (written or about to be): its events, if any, are at `first..last`. */
  appended(entry: Entry, bytes: Buffer, first: number, last: number): void;
  /** Entries from `index` on were replaced by a new leader's; the log now ends after `lastPosition`. */
  truncated(index: number, lastPosition: number): void;
  /** Entry `index` of `term` is committed; the log is committed up to `lastPosition`. */
  committed(index: number, term: number, lastPosition: number): void;
  /** This node's role or known leader changed. */
  roleChanged(status: RaftStatus): void;
  /** A snapshot was offered, installed or given up (see SnapshotEvent). */
  snapshot?(event: SnapshotEvent): void;
}

export interface ReplicatorOptions {
  id: NodeId;
  /** Milliseconds per Raft tick: elections time out after 10–20 ticks, heartbeats every tick. */
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Applied entries kept in memory for followers that fall behind; one further behind gets a snapshot. */
  windowEntries: number;
  random?: RandomSource;
}

/** Randomness from the OS for a real node (the simulator passes a seeded source instead). */
export const osRandom: RandomSource = { int: (bound) => randomInt(bound) };

/**
 * Drives a RawNode over the segment files: the Ready loop of etcd's contract. Each round writes
 * the entries Raft hands out (one writev and one fdatasync for all of them: group commit) and
 * the hard state, then sends messages, then reports committed entries, then advances. The
 * leader's appends go out before its own fdatasync (Raft dissertation §10.2.1): they promise
 * nothing about its disk, and it counts itself toward commit only once its write is durable.
 */
export class Replicator {
  readonly raw: RawNode;
  private transport: PeerTransport | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failure: Error | undefined;
  /** Entry index → { term, resolve, reject } for proposals waiting to be committed. */
  private readonly waiting = new Map<number, { term: number; resolve: () => void; reject: (error: Error) => void }>();
  /** Proposals acknowledged at 'leader': resolved once this node's write of them is durable. */
  private writtenWaiters: Array<{ index: number; resolve: () => void; reject: (error: Error) => void }> = [];
  private configIndex: number;
  private config: ConfigState;

  constructor(
    private readonly stateDir: string,
    private readonly storage: SegmentedLog,
    readonly window: RaftWindow,
    state: RaftState,
    private readonly options: ReplicatorOptions,
    private readonly hooks: ReplicatorHooks,
  ) {
    this.config = state.config;
    this.configIndex = state.configIndex;
    // Everything committed before this start is in the engine already (replayed at open). The
    // commit index may be ahead of the entries a crash left on disk: clamp it.
    const applied = Math.max(Math.min(state.hardState.commit, window.lastIndex()), window.firstIndex() - 1);
    this.raw = new RawNode({
      id: options.id,
      storage: window,
      random: options.random ?? osRandom,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied,
      asyncStorageWrites: state.config.voters.length > 1,
    });
    this.asyncWrites = state.config.voters.length > 1;
    this.appendedNext = window.nextPosition();
    this.appliedIndex = applied;
    this.appliedPosition = window.positionAfter(applied) - 1;
    this.snapshotIdleTicks = options.electionTicks * SNAPSHOT_IDLE_ELECTIONS;
  }

  /** Last entry reported committed (on this disk, in the engine), and its last event's position. */
  private appliedIndex: number;
  private appliedPosition: number;
  /** A snapshot being pulled from a peer (follower side), or pulled and handed to Raft. */
  private fetch: SnapshotFetch | undefined;
  private staged: StagedSnapshot | undefined;
  /** Followers offered a snapshot (leader side): ticks since they last pulled a chunk. */
  private readonly offered = new Map<NodeId, { index: number; idleTicks: number }>();
  /** A transfer without progress for this many ticks is given up (and offered again). */
  private readonly snapshotIdleTicks: number;

  /** Starts ticking (a cluster) or campaigns at once (a single voter needs no timeout). */
  start(transport: PeerTransport | undefined): void {
    this.transport = transport;
    const status = this.raw.status();
    if (status.config.voters.length === 1 && status.config.voters[0] === this.options.id) {
      this.raw.campaign();
    } else {
      this.timer = setInterval(() => {
        this.raw.tick();
        this.tickSnapshots();
        this.schedule();
      }, this.options.tickMs);
      this.timer.unref();
    }
    this.schedule();
  }

  get isLeader(): boolean {
    return this.raw.raft.role === 'leader';
  }

  get leader(): NodeId | undefined {
    const leader = this.raw.raft.leader;
    return leader === NONE ? undefined : leader;
  }

  get term(): number {
    return this.raw.raft.term;
  }

  /** Index the next proposal gets. */
  get nextIndex(): number {
    return this.raw.raft.log.lastIndex() + 1;
  }

  status(): RaftStatus {
    return this.raw.status();
  }

  /** A message from a peer: a Raft message, or a chunk of a snapshot transfer. */
  deliver(message: Message | SnapshotFrame): void {
    if (this.stopped || this.failure) return;
    if (message.type === 'snapshot-read') {
      void this.serveSnapshotRead(message);
      return;
    }
    if (message.type === 'snapshot-data') {
      void this.takeSnapshotData(message);
      return;
    }
    if (message.type === 'snapshot' && !this.offerSnapshot(message)) return;
    this.raw.step(message);
    this.schedule();
  }

  // ---- snapshot install (snapshot-transfer.ts tells the design) ----

  /**
   * A leader's snapshot offer. Raft may take it at once when it costs nothing (we have applied
   * that far already); otherwise the batches we lack are pulled first, and the offer reaches
   * Raft once they are staged here. Returns whether to step it now.
   */
  private offerSnapshot(m: Message): boolean {
    const snapshot = m.snapshot;
    if (!snapshot || snapshot.index <= this.raw.raft.log.committed) return true;
    if (this.fetch) return false; // one transfer at a time: the leader offers again if this one fails
    this.staged = undefined;
    const fetch = new SnapshotFetch(m, this.options.id, this.stateDir, this.appliedIndex + 1, this.appliedPosition + 1);
    this.fetch = fetch;
    this.transport?.sendSnapshotFrame(fetch.request());
    return false;
  }

  private async takeSnapshotData(frame: SnapshotFrame & { type: 'snapshot-data' }): Promise<void> {
    const fetch = this.fetch;
    if (!fetch || !fetch.answers(frame)) return; // an answer to a transfer given up
    let staged: StagedSnapshot | undefined;
    try {
      staged = await fetch.take(frame);
    } catch (error) {
      this.abandonFetch((error as Error).message);
      return;
    }
    if (this.fetch !== fetch || this.stopped) return;
    if (!staged) {
      this.transport?.sendSnapshotFrame(fetch.request());
      return;
    }
    this.fetch = undefined;
    this.staged = staged;
    this.raw.step(staged.offer);
    this.schedule();
  }

  private abandonFetch(reason: string): void {
    const fetch = this.fetch;
    if (!fetch) return;
    this.fetch = undefined;
    void fetch.abandon().then(() => this.hooks.snapshot?.({ kind: 'failed', peer: fetch.offer.from, index: fetch.snapshotIndex, reason }));
  }

  /**
   * A follower pulls batches of a snapshot. Any node serves what it has applied (committed
   * and durable here), so a transfer survives the leader stepping down.
   */
  private async serveSnapshotRead(frame: SnapshotFrame & { type: 'snapshot-read' }): Promise<void> {
    const answer = (bytes: Buffer, error: string) =>
      this.transport?.sendSnapshotFrame({ type: 'snapshot-data', from: this.options.id, to: frame.from, snapshotIndex: frame.snapshotIndex, fromIndex: frame.fromIndex, bytes, error });
    if (frame.snapshotIndex > this.appliedIndex || frame.fromIndex < 1 || frame.fromIndex > frame.snapshotIndex) {
      answer(Buffer.alloc(0), `cannot serve entries ${frame.fromIndex}..${frame.snapshotIndex}: ${this.options.id} has applied up to entry ${this.appliedIndex}`);
      return;
    }
    const offered = this.offered.get(frame.from);
    if (offered) offered.idleTicks = 0;
    try {
      const batches = await this.storage.readBatches(frame.fromIndex, frame.snapshotIndex, frame.positionHint, SNAPSHOT_CHUNK_BYTES);
      if (batches.length === 0) throw new Error(`entry ${frame.fromIndex} is not in the log`);
      answer(batches.length === 1 ? batches[0]!.bytes : Buffer.concat(batches.map((b) => b.bytes)), '');
    } catch (error) {
      answer(Buffer.alloc(0), (error as Error).message);
    }
  }

  /** Gives up transfers that stopped moving: the follower's pull, the leader's offer (Raft offers again). */
  private tickSnapshots(): void {
    if (this.fetch && ++this.fetch.idleTicks > this.snapshotIdleTicks) this.abandonFetch(`no chunk for ${this.snapshotIdleTicks} ticks`);
    if (this.offered.size === 0) return;
    const raft = this.raw.raft;
    for (const [peer, offer] of this.offered) {
      const pr = raft.role === 'leader' ? raft.tracker.progress.get(peer) : undefined;
      if (!pr || pr.state !== 'snapshot') {
        this.offered.delete(peer); // installed (the follower answered), or no longer ours to track
      } else if (++offer.idleTicks > this.snapshotIdleTicks) {
        this.offered.delete(peer);
        this.raw.reportSnapshot(peer, false);
        this.hooks.snapshot?.({ kind: 'failed', peer, index: offer.index, reason: `${peer} pulled nothing for ${this.snapshotIdleTicks} ticks` });
      }
    }
  }

  /**
   * Raft took a leader's snapshot: make this node's log the leader's up to entry S. What this
   * node has applied stays (committed entries are the same on every node); the rest of its log
   * is cut and the staged batches are written after it, committed as they land (they are
   * committed on the leader), through the same hooks as any entry, so the engine derives its
   * state from them. The window restarts empty after S.
   */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const staged = this.staged;
    const offer = staged?.offer.snapshot;
    if (!staged || offer?.index !== snapshot.index || offer.term !== snapshot.term) {
      throw new StorageFailedError(`node ${this.options.id} was handed snapshot ${snapshot.index} (term ${snapshot.term}) without its data staged`);
    }
    this.staged = undefined;
    const started = performance.now();
    await this.writesDone;
    const keep = this.appliedIndex;
    if (staged.fromIndex > keep + 1) invariantFailed(`snapshot ${snapshot.index} staged from entry ${staged.fromIndex}, after entry ${keep} applied here`);
    let lastPosition = this.appliedPosition;
    if (this.storage.lastIndex > keep) {
      const kept = await this.storage.truncateAfterIndex(keep);
      if (kept !== lastPosition) invariantFailed(`cutting after applied entry ${keep} kept position ${kept}, not ${lastPosition}`);
      this.window.truncateFrom(Math.max(keep + 1, this.window.firstIndex()));
      this.hooks.truncated(keep + 1, lastPosition);
      this.dropProposalsFrom(keep + 1);
    }
    let last = { index: keep, term: 0 };
    let writes: Array<Promise<void>> = [];
    let pendingBytes = 0;
    const commitWritten = async () => {
      await Promise.all(writes);
      writes = [];
      pendingBytes = 0;
      this.appliedIndex = last.index;
      this.appliedPosition = lastPosition;
      this.hooks.committed(last.index, last.term, lastPosition);
      for (const [index, term] of terms) this.settleProposal(index, term);
      terms.clear();
    };
    // Proposals this node made as an old leader at the indices the snapshot fills are settled by it.
    const terms = new Map<number, number>();
    for await (const { header, bytes } of readStaged(staged)) {
      if (header.entryIndex <= keep) continue; // applied here already
      if (header.entryIndex !== last.index + 1 || header.firstPosition !== lastPosition + 1) {
        throw new StorageFailedError(`snapshot ${snapshot.index}: staged entry ${header.entryIndex} at position ${header.firstPosition} does not follow entry ${last.index} at position ${lastPosition}`);
      }
      const first = lastPosition + 1;
      lastPosition += header.count;
      this.hooks.appended(entryOfBatch({ ...header, kind: header.kind ?? 0, bytes }), bytes, first, lastPosition);
      writes.push(this.storage.append(bytes, first, lastPosition, header.term, header.entryIndex));
      last = { index: header.entryIndex, term: header.term };
      if (this.waiting.has(header.entryIndex)) terms.set(header.entryIndex, header.term);
      pendingBytes += bytes.length;
      if (pendingBytes >= SNAPSHOT_COMMIT_BYTES) await commitWritten();
    }
    if (last.index !== snapshot.index || last.term !== snapshot.term) {
      throw new StorageFailedError(`snapshot ${snapshot.index} (term ${snapshot.term}): the staged batches end at entry ${last.index} of term ${last.term}`);
    }
    await commitWritten();
    this.window.restore(snapshot, lastPosition + 1);
    this.appendedNext = lastPosition + 1;
    this.config = snapshot.config;
    this.configIndex = snapshot.index;
    await removeStaging(this.stateDir, staged);
    this.hooks.snapshot?.({ kind: 'installed', peer: staged.offer.from, index: snapshot.index, entries: staged.entries, bytes: staged.bytes, ms: Math.round(performance.now() - started) });
  }

  /**
   * Proposes one batch, encoded by `encode(term, index)` for the place it will take. Resolves
   * once committed; rejects with NotLeaderError if this node does not lead, or loses the entry
   * to another leader's before it commits.
   */
  propose(operation: string, encode: (term: number, index: number) => Buffer): { index: number; term: number; committed: Promise<void>; written: Promise<void> } {
    if (this.failure) throw this.failure;
    if (!this.isLeader) throw new NotLeaderError(operation, this.leader);
    const term = this.term;
    const index = this.nextIndex;
    const bytes = encode(term, index);
    let placed: { index: number; term: number };
    try {
      placed = this.raw.propose(bytes);
    } catch (error) {
      if (error instanceof ProposalDroppedError) throw new NotLeaderError(operation, error.leader === NONE ? undefined : error.leader);
      throw error;
    }
    if (placed.index !== index || placed.term !== term) invariantFailed(`proposal placed at ${placed.index}/${placed.term}, encoded for ${index}/${term}`);
    const committed = new Promise<void>((resolve, reject) => this.waiting.set(index, { term, resolve, reject }));
    this.holdProcess();
    const written = new Promise<void>((resolve, reject) => this.writtenWaiters.push({ index, resolve, reject }));
    // Only 'leader' acks wait for `written`; for the rest nobody does. Its rejection (this node
    // stepped down or was cut before its own write finished: dropProposalsFrom, fail, stop)
    // must not be an unhandled one, which ends the process: a leader resumed after SIGSTOP
    // exited this way, and a later membership removal left two voters, one of them dead (chaos).
    written.catch(() => undefined);
    this.schedule();
    return { index, term, committed, written };
  }

  /** Proposes a membership change; resolves once it is committed (it takes effect as it is applied). */
  proposeConfigChange(change: Parameters<RawNode['proposeConfigChange']>[0]): { index: number; term: number; committed: Promise<void> } {
    try {
      const placed = this.raw.proposeConfigChange(change);
      const committed = new Promise<void>((resolve, reject) => this.waiting.set(placed.index, { term: placed.term, resolve, reject }));
      this.schedule();
      return { ...placed, committed };
    } catch (error) {
      if (error instanceof ProposalDroppedError) throw new NotLeaderError(`cluster ${change.type}`, error.leader === NONE ? undefined : error.leader);
      throw error;
    }
  }

  transferLeadership(to: NodeId): void {
    this.raw.transferLeadership(to);
    this.schedule();
  }

  reportUnreachable(id: NodeId): void {
    this.raw.reportUnreachable(id);
    this.schedule();
  }

  /**
   * A linearizable read point (Raft's ReadIndex): resolves with the lowest entry index a read
   * must have applied to see every write acknowledged before this call, once this node has
   * applied it. On the leader it costs one heartbeat round (shared by every read of the round);
   * a follower asks the leader. Rejects with NOT_LEADER when no leader answers in time.
   */
  readIndex(operation: string): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    const raft = this.raw.raft;
    if (raft.tracker.voters.size === 1 && raft.tracker.isVoter(this.options.id) && this.isLeader) return Promise.resolve(raft.log.committed);
    if (raft.leader === NONE) return Promise.reject(new NotLeaderError(operation, undefined));
    const context = ++this.readContext;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.reads.delete(context)) reject(new NotLeaderError(operation, this.leader));
      }, this.options.tickMs * this.options.electionTicks * 2);
      // Not unref'd: a read waiting for its read point keeps the process alive, as a socket would.
      this.reads.set(context, {
        resolve: (index) => {
          clearTimeout(timer);
          this.whenApplied(index, () => resolve(index));
        },
        reject,
      });
      this.raw.readIndex(context);
      this.schedule();
    });
  }

  /**
   * While a proposal waits for its commit, the tick timer keeps the process alive (as a socket
   * does for a remote client): the commit may take an election or two.
   */
  private holdProcess(): void {
    if (!this.timer) return;
    // A re-sent write waiting to learn whether its original committed counts too.
    if (this.waiting.size > 0 || this.watchers.size > 0) this.timer.ref();
    else this.timer.unref();
  }

  /** Runs `then` once entry `index` is applied here (at once if it is). */
  private whenApplied(index: number, then: () => void): void {
    if (this.raw.raft.log.applied >= index) then();
    else this.appliedWaiters.push({ index, then });
  }

  private readContext = 0;
  private readonly reads = new Map<number, { resolve: (index: number) => void; reject: (error: Error) => void }>();
  private appliedWaiters: Array<{ index: number; then: () => void }> = [];

  /** Runs the Ready loop soon (once per turn however often it is asked). */
  schedule(): void {
    if (this.stopped || this.failure) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
      // Work asked for after the loop's last look but before this callback (a proposal made by
      // code that ran on a commit it published) found `running` still set: run for it now, or
      // it would wait for the next unrelated wake-up (found by the matching-engine example).
      if (this.again || this.raw.hasReady()) this.schedule();
    });
  }

  /** Resolves once every Ready handed out so far is handled and its writes are done. */
  async settled(): Promise<void> {
    for (;;) {
      const writes = this.writesDone;
      await this.running;
      await writes;
      if (!this.running && this.writesDone === writes) return;
    }
  }

  /**
   * A cluster hands out the next Ready while the previous one's writes sync (measured: 3-node
   * p50 2.1 → 1.6 ms). A single node writes synchronously: its tiny pipelined appends batch
   * better that way (asynchronous: 245k instead of 341k single-event appends/s), and there is
   * no follower to keep busy meanwhile.
   */
  private readonly asyncWrites: boolean;
  /** Storage writes of the Readies handed out, in order. */
  private writesDone: Promise<void> = Promise.resolve();
  /** Position the next entry handed to storage starts at. */
  private appendedNext: number;

  private async loop(): Promise<void> {
    await Promise.resolve(); // let the proposals of this turn gather into one Ready
    do {
      this.again = false;
      while (this.raw.hasReady() && !this.failure) {
        try {
          await this.handle(this.raw.ready());
        } catch (error) {
          this.fail(error);
          return;
        }
      }
    } while (this.again && !this.failure);
  }

  private async handle(ready: Ready): Promise<void> {
    if (ready.snapshot) await this.installSnapshot(ready.snapshot);
    const leaderNow = this.raw.raft.role === 'leader';
    const writes: Array<Promise<void>> = [];
    const positionsAfter: number[] = [];
    if (ready.entries.length > 0) {
      const first = ready.entries[0]!.index;
      if (first <= this.storage.lastIndex) {
        // A follower's divergent tail (never committed): once the writes in flight are done,
        // cut it, then take the leader's entries.
        await this.writesDone;
        const lastPosition = await this.storage.truncateAfterIndex(first - 1);
        this.window.truncateFrom(first);
        this.hooks.truncated(first, lastPosition);
        this.dropProposalsFrom(first);
        this.appendedNext = lastPosition + 1;
      }
      let next = this.appendedNext;
      for (const entry of ready.entries) {
        const { bytes, first: firstPosition, last } = batchOfEntry(entry, next);
        this.hooks.appended(entry, bytes, firstPosition, last);
        writes.push(this.storage.append(bytes, firstPosition, last, entry.term, entry.index));
        next = last + 1;
        positionsAfter.push(next);
      }
      this.appendedNext = next;
    }
    const hard = ready.hardState;
    if (hard && (hard.term !== this.window.hardState.term || hard.vote !== this.window.hardState.vote)) {
      // Written beside this round's entries, not after them: its commit index must not cover
      // them, or a crash that lost them would leave a divergent tail looking committed
      // (found by the simulator, seed 119130). The commit index is only a hint anyway.
      // Only what is already durable counts (with asynchronous writes, earlier rounds may still be in flight).
      const durable = Math.min(this.storage.durableEntryIndex, ready.entries.length > 0 ? ready.entries[0]!.index - 1 : Number.POSITIVE_INFINITY);
      writes.push(this.persistState({ ...hard, commit: Math.min(hard.commit, durable) }));
    }
    if (hard) this.window.hardState = hard;
    const messages = ready.messages;
    for (const m of messages) {
      if (m.type !== 'snapshot') continue;
      // A follower behind the window: it pulls the batches it lacks (serveSnapshotRead).
      this.offered.set(m.to, { index: m.snapshot!.index, idleTicks: 0 });
      this.hooks.snapshot?.({ kind: 'offered', peer: m.to, index: m.snapshot!.index });
    }
    // The leader's appends go out before its own write (they promise nothing about its disk);
    // everything else (acks, votes) only once this round's writes are durable.
    const sendNow = leaderNow && messages.every((m) => m.type === 'append' || m.type === 'heartbeat' || m.type === 'timeout-now' || m.type === 'read-index-response');
    if (sendNow) this.transport?.send(messages);
    const entries = ready.entries;
    // Committed entries already on this disk (written in earlier rounds) are answered now; with
    // asynchronous writes Raft hands out only those. Synchronously, the rest (entries of this
    // round) wait for its fdatasync.
    const firstNew = entries.length > 0 ? entries[0]!.index : Number.POSITIVE_INFINITY;
    let applied = 0;
    while (applied < ready.committedEntries.length && ready.committedEntries[applied]!.index < firstNew) this.applyCommitted(ready.committedEntries[applied++]!);
    const written = () => {
      this.window.append(entries, positionsAfter);
      if (entries.length > 0 && this.writtenWaiters.length > 0) {
        const upTo = entries[entries.length - 1]!.index;
        const done = this.writtenWaiters.filter((w) => w.index <= upTo);
        this.writtenWaiters = this.writtenWaiters.filter((w) => w.index > upTo);
        for (const waiter of done) waiter.resolve();
      }
      if (!sendNow) this.transport?.send(messages);
    };
    if (this.asyncWrites) {
      // The writes complete in order; the next Ready does not wait for them (etcd's
      // AsyncStorageWrites): proposals keep flowing to the followers while this one syncs.
      this.writesDone = this.writesDone
        .then(() => Promise.all(writes))
        .then(() => {
          written();
          if (entries.length > 0) {
            const last = entries[entries.length - 1]!;
            this.raw.persisted(last.index, last.term);
            this.schedule();
          }
        })
        .catch((error: unknown) => this.fail(error));
    } else {
      await Promise.all(writes);
      written();
      for (let i = applied; i < ready.committedEntries.length; i++) this.applyCommitted(ready.committedEntries[i]!);
    }
    this.raw.advance(ready);
    for (const state of ready.readStates) {
      const read = this.reads.get(state.context);
      if (!read) continue;
      this.reads.delete(state.context);
      read.resolve(state.index);
    }
    if (this.appliedWaiters.length > 0) {
      const applied = this.raw.raft.log.applied;
      const due = this.appliedWaiters.filter((w) => w.index <= applied);
      this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
      for (const waiter of due) waiter.then();
    }
    if (ready.softState) {
      const leads = this.raw.raft.role === 'leader';
      // A leader that stepped down (CheckQuorum, a higher term, a transfer, its removal) may
      // hear nothing more about its uncommitted proposals for a long time, e.g. once removed
      // from the membership (chaos seed 7, 5 nodes: 11 s, the clients' deadline). Answer them
      // NOT_LEADER now; a client re-sends them to the new leader with the same event ids, and
      // a copy that made it there is recognised (the duplicate path waits for its own entry).
      if (this.led && !leads) this.dropProposalsFrom(this.raw.raft.log.committed + 1);
      this.led = leads;
      this.hooks.roleChanged(this.raw.status());
    }
    this.compactWindow();
  }

  private applyCommitted(entry: Entry): void {
    const lastPosition = this.window.positionAfter(entry.index) - 1;
    this.appliedIndex = entry.index;
    this.appliedPosition = lastPosition;
    if (entry.kind === 'config') {
      this.config = decodeConfigEntry(entry.data).config;
      this.configIndex = entry.index;
      void this.persistState(this.window.hardState).catch((error) => this.fail(error));
    }
    this.hooks.committed(entry.index, entry.term, lastPosition);
    this.settleProposal(entry.index, entry.term);
  }

  /**
   * Resolves true once entry `index` commits as the entry of `term`, false once another
   * leader's entry commits there instead (that one was never committed): how a write that
   * found its original still uncommitted learns whether the original made it.
   */
  committedAs(index: number, term: number): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    if (index <= this.appliedIndex) return Promise.resolve(this.raw.raft.log.term(index) === term);
    return new Promise((resolve, reject) => {
      let list = this.watchers.get(index);
      if (!list) this.watchers.set(index, (list = []));
      list.push({ term, resolve, reject });
      this.holdProcess();
    });
  }

  /** Whether this node led as of the last Ready (to see it step down). */
  private led = false;

  private readonly watchers = new Map<number, Array<{ term: number; resolve: (same: boolean) => void; reject: (error: Error) => void }>>();

  /**
   * Answers NOT_LEADER now to the proposals this node made from entry `index` on, rather than
   * when something else commits at their index: their entries were replaced by another
   * leader's, or this node stopped leading before they committed. With nobody writing to the
   * new leader that could take long: a whole client deadline in the 5-node chaos run (seed 7).
   * As for any NOT_LEADER, the outcome is unknown in general (another node may hold a copy),
   * so the caller re-sends with the same event ids, which connect() does by itself.
   */
  private dropProposalsFrom(index: number): void {
    let dropped = false;
    for (const [at, waiter] of this.waiting) {
      if (at < index) continue;
      this.waiting.delete(at);
      waiter.reject(new NotLeaderError('append', this.leader));
      dropped = true;
    }
    if (dropped) this.holdProcess();
    const lost = this.writtenWaiters.filter((w) => w.index >= index);
    if (lost.length === 0) return;
    this.writtenWaiters = this.writtenWaiters.filter((w) => w.index < index);
    for (const waiter of lost) waiter.reject(new NotLeaderError('append', this.leader));
  }

  /** Entry `index` of `term` is committed: a proposal waiting there succeeded if it is that entry, else it was lost. */
  private settleProposal(index: number, term: number): void {
    const watching = this.watchers.get(index);
    if (watching) {
      this.watchers.delete(index);
      for (const watcher of watching) watcher.resolve(watcher.term === term);
      this.holdProcess();
    }
    const waiter = this.waiting.get(index);
    if (!waiter) return;
    this.waiting.delete(index);
    if (waiter.term === term) waiter.resolve();
    else waiter.reject(new NotLeaderError('append', this.leader));
    this.holdProcess();
  }

  /**
   * Keeps in memory what Raft may still need: entries not yet applied, and a tail of applied
   * ones for followers that fall behind (also on followers: any node may become the leader).
   * A follower behind the window gets a snapshot.
   */
  private compactWindow(): void {
    const raft = this.raw.raft;
    const applied = raft.log.applied;
    if (raft.tracker.voters.size === 1 && raft.tracker.learners.size === 0) {
      // A cluster of one: nobody to send entries to.
      if (applied >= this.window.firstIndex()) this.window.compact(applied);
      return;
    }
    const maxEntries = this.options.windowEntries;
    const overEntries = this.window.lastIndex() - this.window.firstIndex() + 1 > maxEntries;
    if (!overEntries && this.window.sizeBytes <= WINDOW_BUDGET_BYTES) return;
    let upTo = applied - Math.floor(maxEntries / 4);
    if (raft.role === 'leader') {
      // Keep what a live follower still needs, as long as the budget allows.
      let slowest = applied;
      for (const [id, pr] of raft.tracker.progress) if (id !== this.options.id && pr.recentActive) slowest = Math.min(slowest, pr.match);
      if (this.window.sizeBytes <= WINDOW_BUDGET_BYTES) upTo = Math.min(upTo, slowest);
    }
    if (upTo >= this.window.firstIndex()) this.window.compact(upTo);
  }

  private fail(error: unknown): void {
    const failure = error instanceof StorageFailedError ? error : new StorageFailedError(`replication failed: ${(error as Error).message}`, error);
    this.failure = failure;
    for (const waiter of this.waiting.values()) waiter.reject(failure);
    this.waiting.clear();
    for (const list of this.watchers.values()) for (const watcher of list) watcher.reject(failure);
    this.watchers.clear();
    for (const waiter of this.writtenWaiters) waiter.reject(failure);
    this.writtenWaiters = [];
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Persists the hard state with the current commit index (done on close, for a fast reopen). */
  async saveState(): Promise<void> {
    const hard = this.raw.raft.hardState();
    this.window.hardState = hard;
    await this.persistState(hard);
  }

  /**
   * Writes the raft-state file, one write at a time and in order (each replaces the file
   * through the same temporary name); the config is the one as of the latest applied change.
   */
  private persistState(hardState: HardState): Promise<void> {
    const state = { hardState, config: this.config, configIndex: this.configIndex, nodeId: this.options.id };
    const write = this.stateWrites.catch(() => undefined).then(() => saveRaftState(this.stateDir, state));
    this.stateWrites = write;
    return write;
  }

  private stateWrites: Promise<void> = Promise.resolve();

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.fetch) await this.fetch.abandon();
    this.fetch = undefined;
    await this.settled();
    await this.transport?.close();
    const stopped = new NotLeaderError('append', undefined);
    for (const waiter of this.waiting.values()) waiter.reject(stopped);
    this.waiting.clear();
    for (const list of this.watchers.values()) for (const watcher of list) watcher.reject(stopped);
    this.watchers.clear();
    for (const waiter of this.writtenWaiters) waiter.reject(stopped);
    this.writtenWaiters = [];
  }

}

/**
 * Entry data kept in memory for followers that fall behind, at most; past it (or past
 * `windowEntries` entries), a quarter of `windowEntries` applied entries stays.
 */
const WINDOW_BUDGET_BYTES = 256 * 1024 * 1024;
/** A snapshot transfer without progress for this many election timeouts is given up (and retried). */
const SNAPSHOT_IDLE_ELECTIONS = 10;
/** While installing a snapshot, its entries are committed (and published) every this many bytes. */
const SNAPSHOT_COMMIT_BYTES = 4 * 1024 * 1024;
