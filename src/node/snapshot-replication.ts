import type { Message, NodeId, RawNode } from '../raft/index.js';
import type { SegmentedLog } from '../storage/segmented-log.js';
import type { FileSystem } from '../storage/file-system.js';
import { SNAPSHOT_CHUNK_BYTES, SnapshotFetch, type SnapshotFrame, type StagedSnapshot } from './snapshot-transfer.js';
import type { PeerTransport, SnapshotEvent } from './replication-ports.js';
import type { CheckpointDecoder } from './checkpoint-fetch.js';
import { CheckpointSource, NoCheckpointError, type CheckpointPiece } from './snapshot-serve.js';

/** A snapshot transfer without progress for this many election timeouts is given up (and retried). */
const SNAPSHOT_IDLE_ELECTIONS = 10;

/** What the snapshot exchange needs from the replicator that runs it. */
export interface SnapshotHost {
  readonly id: NodeId;
  readonly stateDir: string;
  /** Where this node's engine checkpoints are (served in place of entries retention removed). */
  readonly checkpointDir: string;
  readonly fs: FileSystem;
  /** Checks and decodes a checkpoint file pulled from a peer. */
  readonly decodeCheckpoint: CheckpointDecoder;
  readonly storage: SegmentedLog;
  readonly raw: RawNode;
  transport(): PeerTransport | undefined;
  /** The last entry applied here (committed and durable), and its last event's position. */
  applied(): { index: number; position: number };
  /** Steps a snapshot offer whose data is now staged, and runs the Ready loop. */
  stepStaged(offer: Message): void;
  /** Forgets the in-memory entries up to the applied one, so that the next snapshot offered is that new. */
  compactToApplied(): void;
  report(event: SnapshotEvent): void;
}

/**
 * The snapshot exchange around Raft (snapshot-transfer.ts tells the design). Follower side:
 * take a leader's offer, pull the batches it lacks into a staging file, then hand the offer
 * to Raft. Any node: serve the batches it has applied to a peer that pulls them. Leader side:
 * watch each follower's pull and give up a transfer that stopped moving (Raft offers again).
 */
export class SnapshotReplication {
  /** A snapshot being pulled from a peer (follower side), or pulled and handed to Raft. */
  private fetch: SnapshotFetch | undefined;
  private staged: StagedSnapshot | undefined;
  /** Followers offered a snapshot (leader side): ticks since they last pulled a chunk. */
  private readonly offered = new Map<NodeId, { index: number; idleTicks: number }>();
  /** A transfer without progress for this many ticks is given up (and offered again). */
  private readonly idleTicks: number;
  private readonly checkpoints: CheckpointSource;

  constructor(
    private readonly host: SnapshotHost,
    electionTicks: number,
  ) {
    this.idleTicks = electionTicks * SNAPSHOT_IDLE_ELECTIONS;
    this.checkpoints = new CheckpointSource(host.checkpointDir, host.storage, host.fs, SNAPSHOT_CHUNK_BYTES);
  }

  /**
   * A leader's snapshot offer. Raft may take it at once when it costs nothing (we have applied
   * that far already); otherwise the batches we lack are pulled first, and the offer reaches
   * Raft once they are staged here. Returns whether to step it now.
   */
  offer(m: Message): boolean {
    const snapshot = m.snapshot;
    if (!snapshot || snapshot.index <= this.host.raw.committed) return true;
    if (this.fetch) return false; // one transfer at a time: the leader offers again if this one fails
    this.staged = undefined;
    const applied = this.host.applied();
    const fetch = new SnapshotFetch(
      m,
      this.host.id,
      this.host.stateDir,
      applied.index + 1,
      applied.position + 1,
      this.host.decodeCheckpoint,
      this.host.fs,
    );
    this.fetch = fetch;
    this.host.transport()?.sendSnapshotFrame(fetch.request());
    return false;
  }

  /** A chunk of the batches this node pulls. */
  async takeData(frame: SnapshotFrame & { type: 'snapshot-data' }, stopped: () => boolean): Promise<void> {
    const fetch = this.fetch;
    if (!fetch?.answers(frame)) return; // an answer to a transfer given up
    let staged: StagedSnapshot | undefined;
    try {
      staged = await fetch.take(frame);
    } catch (error) {
      this.abandonFetch((error as Error).message);
      return;
    }
    if (this.fetch !== fetch || stopped()) return;
    if (!staged) {
      this.host.transport()?.sendSnapshotFrame(fetch.request());
      return;
    }
    this.fetch = undefined;
    this.staged = staged;
    this.host.stepStaged(staged.offer);
  }

  /** The staged data of the snapshot Raft now installs (taken once). */
  takeStaged(): StagedSnapshot | undefined {
    const staged = this.staged;
    this.staged = undefined;
    return staged;
  }

  /**
   * A follower pulls batches of a snapshot. Any node serves what it has applied (committed
   * and durable here), so a transfer survives the leader stepping down. Entries retention
   * removed here are answered with a checkpoint instead (snapshot-serve.ts).
   */
  async serveRead(frame: SnapshotFrame & { type: 'snapshot-read' }): Promise<void> {
    const answer = (bytes: Buffer, error: string, piece?: CheckpointPiece) => {
      const data = {
        type: 'snapshot-data' as const,
        from: this.host.id,
        to: frame.from,
        snapshotIndex: frame.snapshotIndex,
        fromIndex: frame.fromIndex,
        bytes,
        error,
      };
      this.host.transport()?.sendSnapshotFrame(piece ? { ...data, checkpoint: piece.chunk } : data);
    };
    const applied = this.host.applied().index;
    if (frame.snapshotIndex > applied || frame.fromIndex < 1 || frame.fromIndex > frame.snapshotIndex) {
      answer(
        Buffer.alloc(0),
        `cannot serve entries ${frame.fromIndex}..${frame.snapshotIndex}:` +
          ` ${this.host.id} has applied up to entry ${applied}`,
      );
      return;
    }
    const offered = this.offered.get(frame.from);
    if (offered) offered.idleTicks = 0;
    try {
      if (frame.checkpoint || frame.fromIndex < this.host.storage.firstIndex) {
        const piece = await this.checkpoints.piece(frame);
        answer(piece.bytes, '', piece);
        return;
      }
      const batches = await this.host.storage.readBatches(
        frame.fromIndex,
        frame.snapshotIndex,
        frame.positionHint,
        SNAPSHOT_CHUNK_BYTES,
      );
      if (batches.length === 0) throw new Error(`entry ${frame.fromIndex} is not in the log`);
      answer(batches.length === 1 ? batches[0]!.bytes : Buffer.concat(batches.map((b) => b.bytes)), '');
    } catch (error) {
      answer(Buffer.alloc(0), (error as Error).message);
      if (error instanceof NoCheckpointError) this.offerNewer(frame.from);
    }
  }

  /**
   * No checkpoint here is old enough for the snapshot offered (each is past its entry S): the
   * leader forgets its in-memory entries up to the applied one and offers again, at that entry.
   */
  private offerNewer(peer: NodeId): void {
    if (this.host.raw.progressOf(peer)?.state !== 'snapshot') return;
    this.host.compactToApplied();
    this.offered.delete(peer);
    this.host.raw.reportSnapshot(peer, false);
  }

  /** The leader's outgoing messages: a snapshot offer to a follower behind the window starts a watch on its pull. */
  noteOffers(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.type !== 'snapshot') continue;
      this.offered.set(m.to, { index: m.snapshot!.index, idleTicks: 0 });
      this.host.report({ kind: 'offered', peer: m.to, index: m.snapshot!.index });
    }
  }

  /** Gives up transfers that stopped moving: the follower's pull, the leader's offer (Raft offers again). */
  tick(): void {
    if (this.fetch && ++this.fetch.idleTicks > this.idleTicks)
      this.abandonFetch(`no chunk for ${this.idleTicks} ticks`);
    for (const [peer, offer] of this.offered) {
      const pr = this.host.raw.progressOf(peer);
      if (pr?.state !== 'snapshot') {
        this.offered.delete(peer); // installed (the follower answered), or no longer ours to track
      } else if (++offer.idleTicks > this.idleTicks) {
        this.offered.delete(peer);
        this.host.raw.reportSnapshot(peer, false);
        this.host.report({
          kind: 'failed',
          peer,
          index: offer.index,
          reason: `${peer} pulled nothing for ${this.idleTicks} ticks`,
        });
      }
    }
  }

  /** Gives up a pull in progress (the node stops). */
  async stop(): Promise<void> {
    const fetch = this.fetch;
    this.fetch = undefined;
    if (fetch) await fetch.abandon();
  }

  private abandonFetch(reason: string): void {
    const fetch = this.fetch;
    if (!fetch) return;
    this.fetch = undefined;
    void fetch
      .abandon()
      .then(() => this.host.report({ kind: 'failed', peer: fetch.offer.from, index: fetch.snapshotIndex, reason }));
  }
}
