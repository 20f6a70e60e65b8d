import { join } from 'node:path';
import {
  RawNode,
  ConfigChangeError,
  ProposalDroppedError,
  NONE,
  decodeConfigEntry,
  type ConfigState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftStatus,
  type Ready,
  type Snapshot,
} from '../raft/index.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import { invariantFailed } from '../engine/index.js';
import { InvalidArgumentError, NotLeaderError, StorageFailedError, UnknownOutcomeError } from '../types/errors.js';
import type { RaftWindow } from './raft-window.js';
import { saveRaftState, type RaftState } from './raft-state-file.js';
import { batchOfEntry } from './batch-entry.js';
import { removeStaging, type SnapshotFrame } from './snapshot-transfer.js';
import { installSnapshot, type InstallTarget } from './snapshot-install.js';
import { SnapshotReplication } from './snapshot-replication.js';
import { Proposals } from './proposals.js';
import { ReadPoints } from './read-points.js';
import type { TimerHandle } from './environment.js';
import type { PeerTransport, ReplicatorHooks, ReplicatorOptions, SnapshotEvent } from './replication-ports.js';
import { compactWindow } from './window-retention.js';
import { decodeCheckpointFile } from './checkpoints.js';

export type { PeerTransport, ReplicatorHooks, ReplicatorOptions, SnapshotEvent } from './replication-ports.js';

/** A read waits this many election timeouts for its read point before it answers NOT_LEADER. */
const READ_INDEX_TIMEOUT_ELECTIONS = 2;

/** This round's entries handed to storage: the writes, and the position after each entry. */
interface RoundWrites {
  writes: Array<Promise<void>>;
  positionsAfter: number[];
}

/**
 * Drives a RawNode over the segment files: the Ready loop of etcd's contract. Each round writes
 * the entries Raft hands out (one writev and one fdatasync for all of them: group commit) and
 * the hard state, then sends messages, then reports committed entries, then advances. The
 * leader's appends go out before its own fdatasync (Raft dissertation §10.2.1): they promise
 * nothing about its disk, and it counts itself toward commit only once its write is durable.
 */
export class Replicator {
  /** Called once when this node stops on a failure of its storage (see `halt`). */
  onHalt: ((error: StorageFailedError) => void) | undefined;
  private readonly raw: RawNode;
  private transport: PeerTransport | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private failure: Error | undefined;
  private readonly proposals = new Proposals();
  private readonly snapshots: SnapshotReplication;
  private configIndex: number;
  private config: ConfigState;
  /** Last entry reported committed (on this disk, in the engine), and its last event's position. */
  private appliedIndex: number;
  private appliedPosition: number;
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
  /** Whether this node led as of the last Ready (to see it step down). */
  private led = false;
  private readonly readPoints: ReadPoints;
  private stateWrites: Promise<void> = Promise.resolve();

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
    this.asyncWrites = state.config.voters.length > 1;
    this.raw = new RawNode({
      id: options.id,
      storage: window,
      random: options.random,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied,
      asyncStorageWrites: this.asyncWrites,
    });
    this.appendedNext = window.nextPosition();
    this.appliedIndex = applied;
    this.appliedPosition = window.positionAfter(applied) - 1;
    this.snapshots = new SnapshotReplication(this.snapshotHost(), options.electionTicks);
    this.readPoints = new ReadPoints(
      options.timers,
      options.tickMs * options.electionTicks * READ_INDEX_TIMEOUT_ELECTIONS,
    );
  }

  /** Starts ticking (a cluster) or campaigns at once (a single voter needs no timeout). */
  start(transport: PeerTransport | undefined): void {
    this.transport = transport;
    this.learnAddresses();
    const { voters } = this.raw.config();
    if (voters.length === 1 && voters[0] === this.options.id) {
      this.raw.campaign();
    } else {
      this.timer = this.options.timers.setInterval(() => {
        this.raw.tick();
        this.snapshots.tick();
        this.schedule();
      }, this.options.tickMs);
      this.timer.unref();
    }
    this.schedule();
  }

  get isLeader(): boolean {
    return this.raw.role === 'leader';
  }

  get leader(): NodeId | undefined {
    const leader = this.raw.leader;
    return leader === NONE ? undefined : leader;
  }

  get term(): number {
    return this.raw.term;
  }

  /** The last entry applied here: committed, durable and in the engine. */
  get appliedEntryIndex(): number {
    return this.appliedIndex;
  }

  /** Index the next proposal gets. */
  get nextIndex(): number {
    return this.raw.lastIndex() + 1;
  }

  /** True when this node leads and is the only voter: a read point is its own commit index. */
  get isSoleVoterLeader(): boolean {
    return this.isLeader && this.raw.voterCount === 1;
  }

  /** The log's entries after `index` (unstable ones included), for an engine that lags this node's log. */
  entriesAfter(index: number): Entry[] {
    return this.raw.entries(index + 1, this.raw.lastIndex());
  }

  status(): RaftStatus {
    return this.raw.status();
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** A message from a peer: a Raft message, or a chunk of a snapshot transfer. */
  deliver(message: Message | SnapshotFrame): void {
    if (this.stopped || this.failure) return;
    if (message.type === 'snapshot-read') {
      void this.snapshots.serveRead(message);
      return;
    }
    if (message.type === 'snapshot-data') {
      void this.snapshots.takeData(message, () => this.stopped);
      return;
    }
    if (message.type === 'append' || message.type === 'snapshot') this.learnAddressesFrom(message);
    if (message.type === 'snapshot' && !this.snapshots.offer(message)) return;
    this.raw.step(message);
    this.schedule();
  }

  /**
   * Proposes one batch, encoded by `encode(term, index)` for the place it will take. Resolves
   * once committed; rejects with NotLeaderError if this node does not lead, or loses the entry
   * to another leader's before it commits.
   */
  propose(
    operation: string,
    encode: (term: number, index: number) => Buffer,
  ): { index: number; term: number; committed: Promise<void>; written: Promise<void> } {
    if (this.failure) throw this.failure;
    if (!this.isLeader) throw new NotLeaderError(operation, this.leader);
    const term = this.term;
    const index = this.nextIndex;
    const bytes = encode(term, index);
    let placed: { index: number; term: number };
    try {
      placed = this.raw.propose(bytes);
    } catch (error) {
      if (error instanceof ProposalDroppedError)
        throw new NotLeaderError(operation, error.leader === NONE ? undefined : error.leader);
      throw error;
    }
    if (placed.index !== index || placed.term !== term)
      invariantFailed(`proposal placed at ${placed.index}/${placed.term}, encoded for ${index}/${term}`);
    const committed = this.proposals.commitOf(index, term);
    this.holdProcess();
    const written = this.proposals.writeOf(index);
    // Only 'leader' acks wait for `written`; for the rest nobody does. Its rejection (this node
    // stepped down or was cut before its own write finished) must not be an unhandled one,
    // which ends the process: a leader resumed after SIGSTOP exited this way, and a later
    // membership removal left two voters, one of them dead.
    written.catch(() => undefined);
    this.schedule();
    return { index, term, committed, written };
  }

  /**
   * Proposes a membership change (several: joint, see raft/config-change.ts); resolves once it
   * is committed (it takes effect as it is applied).
   */
  proposeConfigChange(changes: Parameters<RawNode['proposeConfigChange']>[0]): {
    index: number;
    term: number;
    committed: Promise<void>;
  } {
    try {
      const placed = this.raw.proposeConfigChange(changes, this.transport?.knownAddresses?.());
      const committed = this.proposals.commitOf(placed.index, placed.term);
      this.schedule();
      return { ...placed, committed };
    } catch (error) {
      const what = `cluster ${Array.isArray(changes) ? 'change' : (changes as { type: string }).type}`;
      if (error instanceof ProposalDroppedError)
        throw new NotLeaderError(what, error.leader === NONE ? undefined : error.leader);
      if (error instanceof ConfigChangeError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  }

  /**
   * A node that joins hears from the leader before it applies any membership, and must answer
   * it: the memberships the leader sends (in entries or a snapshot offer) say where it is.
   * Only where to connect is taken from them; they take effect as members when applied.
   */
  private learnAddressesFrom(message: Message): void {
    const configs = message.snapshot ? [message.snapshot.config] : [];
    for (const entry of message.entries)
      if (entry.kind === 'config') configs.push(decodeConfigEntry(entry.data).config);
    for (const config of configs) if (config.addresses) this.transport?.learnAddresses?.(config.addresses);
  }

  /**
   * Tells the transport where the members are. Raft applies a config entry in advance(), after
   * the node applied it here: the entry's own membership is passed, so the leader reaches a new
   * member before it sends it the first probe.
   */
  private learnAddresses(config: ConfigState = this.raw.config()): void {
    if (config.addresses) this.transport?.learnAddresses?.(config.addresses);
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
    if (this.raw.voterCount === 1 && this.raw.isVoter(this.options.id) && this.isLeader)
      return Promise.resolve(this.raw.committed);
    if (this.raw.leader === NONE) return Promise.reject(new NotLeaderError(operation, undefined));
    const ask = (context: number) => {
      this.raw.readIndex(context);
      this.schedule();
    };
    return this.readPoints.request(
      operation,
      () => this.leader,
      () => this.raw.applied,
      ask,
    );
  }

  /**
   * Resolves true once entry `index` commits as the entry of `term`, false once another
   * leader's entry commits there instead (that one was never committed): how a write that
   * found its original still uncommitted learns whether the original made it.
   */
  committedAs(index: number, term: number): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    if (index <= this.appliedIndex) return Promise.resolve(this.raw.termAt(index) === term);
    const answer = this.proposals.watch(index, term);
    this.holdProcess();
    return answer;
  }

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
      // it would wait for the next unrelated wake-up.
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

  /** Persists the hard state with the current commit index (done on close, for a fast reopen). */
  async saveState(): Promise<void> {
    const hard = this.raw.hardState();
    this.window.hardState = hard;
    await this.persistState(hard);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.timers.clearInterval(this.timer);
    await this.snapshots.stop();
    await this.settled();
    await this.transport?.close();
    this.proposals.rejectAll(new NotLeaderError('append', undefined));
  }

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

  /** One Ready, in etcd's order: persist, send, apply, advance; then what advancing settles. */
  private async handle(ready: Ready): Promise<void> {
    if (ready.snapshot) await this.installSnapshot(ready.snapshot);
    const leaderNow = this.raw.role === 'leader';
    const round = await this.writeEntries(ready.entries);
    this.persistHardState(ready, round);
    this.snapshots.noteOffers(ready.messages);
    // The leader's appends go out before its own write (they promise nothing about its disk);
    // everything else (acks, votes) only once this round's writes are durable.
    const sendNow =
      leaderNow &&
      ready.messages.every(
        (m) =>
          m.type === 'append' || m.type === 'heartbeat' || m.type === 'timeout-now' || m.type === 'read-index-response',
      );
    if (sendNow) this.transport?.send(ready.messages);
    // Committed entries already on this disk (written in earlier rounds) are answered now; with
    // asynchronous writes Raft hands out only those. Synchronously, the rest (entries of this
    // round) wait for its fdatasync.
    const firstNew = ready.entries.length > 0 ? ready.entries[0]!.index : Number.POSITIVE_INFINITY;
    let applied = 0;
    while (applied < ready.committedEntries.length && ready.committedEntries[applied]!.index < firstNew)
      this.applyCommitted(ready.committedEntries[applied++]!);
    const written = () => {
      this.window.append(ready.entries, round.positionsAfter);
      if (ready.entries.length > 0) this.proposals.writtenUpTo(ready.entries[ready.entries.length - 1]!.index);
      if (!sendNow) this.transport?.send(ready.messages);
    };
    if (this.asyncWrites) {
      this.finishAsynchronously(ready.entries, round, written);
    } else {
      await Promise.all(round.writes);
      written();
      for (let i = applied; i < ready.committedEntries.length; i++) this.applyCommitted(ready.committedEntries[i]!);
    }
    this.raw.advance(ready);
    this.afterAdvance(ready);
  }

  /**
   * Hands this round's entries to storage (after cutting a divergent tail they replace) and
   * tells the hooks each one entered the log.
   */
  private async writeEntries(entries: readonly Entry[]): Promise<RoundWrites> {
    const round: RoundWrites = { writes: [], positionsAfter: [] };
    if (entries.length === 0) return round;
    const first = entries[0]!.index;
    if (first <= this.storage.lastIndex) await this.cutDivergentTail(first);
    let next = this.appendedNext;
    for (const entry of entries) {
      const { bytes, first: firstPosition, last } = batchOfEntry(entry, next);
      this.hooks.appended(entry, bytes, firstPosition, last);
      const write = this.storage.append(bytes, firstPosition, last, entry.term, entry.index);
      // Awaited only once the rounds before it are done (one may wait on the raft-state file),
      // but a failed fdatasync rejects every queued write at once: until then nobody listens,
      // and an unheard rejection would take the process down. `finishAsynchronously` still sees it.
      write.catch(() => undefined);
      round.writes.push(write);
      next = last + 1;
      round.positionsAfter.push(next);
    }
    this.appendedNext = next;
    return round;
  }

  /**
   * A follower's divergent tail (never committed): once the
   * writes in flight are done, cut it from entry `first` on.
   */
  private async cutDivergentTail(first: number): Promise<void> {
    await this.writesDone;
    const lastPosition = await this.storage.truncateAfterIndex(first - 1);
    this.window.truncateFrom(first);
    this.hooks.truncated(first, lastPosition);
    this.dropProposalsFrom(first);
    this.appendedNext = lastPosition + 1;
  }

  /**
   * Writes a new term or vote beside this round's entries, not after them: its commit index
   * must not cover them, or a crash that lost them would leave a divergent tail looking
   * committed. Only what is already durable counts (with asynchronous writes, earlier rounds
   * may still be in flight). The commit index is only a hint anyway.
   */
  private persistHardState(ready: Ready, round: RoundWrites): void {
    const hard = ready.hardState;
    if (!hard) return;
    const previous = this.window.hardState;
    // The recovering mark too: once cleared, a restart must not make the node wait again.
    if (hard.term !== previous.term || hard.vote !== previous.vote || hard.recovering !== previous.recovering) {
      const firstNew = ready.entries.length > 0 ? ready.entries[0]!.index - 1 : Number.POSITIVE_INFINITY;
      const durable = Math.min(this.storage.durableEntryIndex, firstNew);
      const write = this.persistState({ ...hard, commit: Math.min(hard.commit, durable) });
      write.catch(() => undefined); // heard by the round, later (see `writeEntries`)
      round.writes.push(write);
    }
    this.window.hardState = hard;
  }

  /**
   * The writes complete in order; the next Ready does not wait for them (etcd's
   * AsyncStorageWrites): proposals keep flowing to the followers while this one syncs.
   */
  private finishAsynchronously(entries: readonly Entry[], round: RoundWrites, written: () => void): void {
    this.writesDone = this.writesDone
      .then(() => Promise.all(round.writes))
      .then(() => {
        written();
        if (entries.length > 0) {
          const last = entries[entries.length - 1]!;
          this.raw.persisted(last.index, last.term);
          this.schedule();
        }
      })
      .catch((error: unknown) => this.fail(error));
  }

  /** What advancing settles: read points, reads waiting for an applied index, a change of role, the window. */
  private afterAdvance(ready: Ready): void {
    this.readPoints.answer(ready.readStates, this.raw.applied);
    if (ready.softState) {
      const leads = this.raw.role === 'leader';
      // A leader that stepped down (CheckQuorum, a higher term, a transfer, its removal) may
      // hear nothing more about its uncommitted proposals for a long time, e.g. once removed
      // from the membership. Answer them NOT_LEADER now; a client re-sends them to the new
      // leader with the same event ids, and a copy that made it there is recognised (the
      // duplicate path waits for its own entry).
      if (this.led && !leads) this.dropProposalsFrom(this.raw.committed + 1);
      this.led = leads;
      this.hooks.roleChanged(this.raw.status());
    }
    compactWindow(this.window, this.raw, this.options.id, this.options.windowEntries);
  }

  private applyCommitted(entry: Entry): void {
    const lastPosition = this.window.positionAfter(entry.index) - 1;
    this.appliedIndex = entry.index;
    this.appliedPosition = lastPosition;
    if (entry.kind === 'config') {
      this.config = decodeConfigEntry(entry.data).config;
      this.configIndex = entry.index;
      this.learnAddresses(this.config);
      void this.persistState(this.window.hardState).catch((error) => this.fail(error));
    }
    this.hooks.committed(entry.index, entry.term, lastPosition);
    this.settleProposal(entry.index, entry.term);
  }

  /**
   * Raft took a leader's snapshot: make this node's log the leader's up to entry S (see
   * installSnapshot). The window restarts empty after S.
   */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const staged = this.snapshots.takeStaged();
    const offer = staged?.offer.snapshot;
    if (!staged || offer?.index !== snapshot.index || offer.term !== snapshot.term) {
      throw new StorageFailedError(
        `node ${this.options.id} was handed snapshot ${snapshot.index} (term ${snapshot.term}) without its data staged`,
      );
    }
    const started = this.options.monotonicNow();
    await this.writesDone;
    const lastPosition = await installSnapshot(this.installTarget(), snapshot, staged);
    this.window.restore(snapshot, lastPosition + 1);
    this.appendedNext = lastPosition + 1;
    this.config = snapshot.config;
    this.configIndex = snapshot.index;
    this.learnAddresses(snapshot.config);
    await removeStaging(this.stateDir, staged, this.options.fs);
    const ms = Math.round(this.options.monotonicNow() - started);
    this.hooks.snapshot?.({
      kind: 'installed',
      peer: staged.offer.from,
      index: snapshot.index,
      entries: staged.entries,
      bytes: staged.bytes,
      ms,
      ...(staged.checkpoint ? { checkpoint: staged.checkpoint.position } : {}),
    });
  }

  private installTarget(): InstallTarget {
    return {
      fs: this.options.fs,
      checkpointDir: join(this.stateDir, 'checkpoints'),
      storage: this.storage,
      window: this.window,
      hooks: this.hooks,
      applied: () => ({ index: this.appliedIndex, position: this.appliedPosition }),
      setApplied: (index, position) => {
        this.appliedIndex = index;
        this.appliedPosition = position;
      },
      dropProposalsFrom: (index) => this.dropProposalsFrom(index),
      isAwaiting: (index) => this.proposals.isAwaiting(index),
      settleProposal: (index, term) => this.settleProposal(index, term),
    };
  }

  /** See Proposals.dropFrom: the proposals from entry `index` on are answered NOT_LEADER now. */
  private dropProposalsFrom(index: number): void {
    if (this.proposals.dropFrom(index, this.leader)) this.holdProcess();
  }

  private settleProposal(index: number, term: number): void {
    this.proposals.settle(index, term, this.leader);
    this.holdProcess();
  }

  /**
   * While a proposal waits for its commit, the tick timer keeps the process alive (as a socket
   * does for a remote client): the commit may take an election or two. A re-sent write
   * waiting to learn whether its original committed counts too.
   */
  private holdProcess(): void {
    if (!this.timer) return;
    if (this.proposals.awaited) this.timer.ref();
    else this.timer.unref();
  }

  /**
   * Stops this node for good: its storage failed (a failed fdatasync leaves nothing written
   * since the last good one trustworthy). No more ticks, messages or Readies, so in a cluster
   * it falls silent and the others go on without it. Its pending proposals are of unknown
   * outcome: their entries may be on its disk, or on a quorum of others, or nowhere.
   */
  halt(error: unknown): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    const failure =
      error instanceof StorageFailedError
        ? error
        : new StorageFailedError(`replication failed: ${(error as Error).message}`, error);
    this.failure = failure;
    if (this.timer) this.options.timers.clearInterval(this.timer);
    this.proposals.rejectAll(
      new UnknownOutcomeError(
        `this node stopped before the append was known to be durable: ${failure.message}. The append` +
          ' may or may not be in the log: re-send it with the same event ids (to this node once' +
          ' restarted, or to the new leader); the log recognises a re-send and answers it with the' +
          " original's result",
        failure,
      ),
    );
    this.onHalt?.(failure);
  }

  /**
   * Writes the raft-state file, one write at a time and in order (each replaces the file
   * through the same temporary name); the config is the one as of the latest applied change.
   */
  private persistState(hardState: HardState): Promise<void> {
    const state = { hardState, config: this.config, configIndex: this.configIndex, nodeId: this.options.id };
    const write = this.stateWrites
      .catch(() => undefined)
      .then(() => saveRaftState(this.stateDir, state, this.options.fs));
    this.stateWrites = write;
    return write;
  }

  private snapshotHost() {
    return {
      id: this.options.id,
      stateDir: this.stateDir,
      checkpointDir: join(this.stateDir, 'checkpoints'),
      decodeCheckpoint: (bytes: Buffer, position: number) =>
        decodeCheckpointFile(bytes, position, this.options.idWindow),
      fs: this.options.fs,
      storage: this.storage,
      raw: this.raw,
      transport: () => this.transport,
      applied: () => ({ index: this.appliedIndex, position: this.appliedPosition }),
      stepStaged: (offer: Message) => {
        this.raw.step(offer);
        this.schedule();
      },
      compactToApplied: () => {
        if (this.raw.applied >= this.window.firstIndex()) this.window.compact(this.raw.applied);
        this.schedule();
      },
      report: (event: SnapshotEvent) => this.hooks.snapshot?.(event),
    };
  }
}
