import {
  decodeCheckpoint,
  encodeCheckpoint,
  applyEvent,
  truncateState,
  newEngineState,
  DEFAULT_ID_WINDOW,
  type EngineState,
} from '../src/engine/index.js';
import {
  RawNode,
  type ConfigState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RandomSource,
  type Snapshot,
  type UnsafeRules,
} from '../src/raft/index.js';
import { decodeBatch } from './entry-codec.js';
import { SimDisk } from './sim-disk.js';

/** What the leader waits for before it answers a client: its entry committed at this index and term. */
export interface PendingProposal {
  readonly op: number;
  readonly index: number;
  readonly term: number;
}

/**
 * One simulated node: the real RawNode and the real engine over a SimDisk. Volatile state
 * (the RawNode, the engine, pending proposals) is lost on a crash and rebuilt from the disk on
 * restart, as a real node reopens its data directory.
 */
export class SimNode {
  readonly disk: SimDisk;
  raw: RawNode | undefined;
  engine: EngineState = newEngineState(DEFAULT_ID_WINDOW);
  /** positionAt[index] = the engine's next position before entry `index` (for truncation). */
  positionAt = new Map<number, number>();
  /** Event id at each position of this node's log (what reading the segment would give). */
  idAt = new Map<number, string>();
  /** Last Raft index whose events are in the engine. */
  engineIndex = 0;
  /** Last index applied since the last start; and the position after it. */
  applied = 0;
  appliedPosition = 0;
  pending = new Map<number, PendingProposal>();
  /** Asynchronous storage writes in flight, completed in order. */
  pendingWrites: Array<{
    at: number;
    entries: readonly Entry[];
    hardState: HardState | undefined;
    messages: readonly Message[];
  }> = [];
  /** Term of each entry whose events are in the engine (to tell a replaced entry from the same one). */
  engineTerm = new Map<number, number>();
  /** The node is crashed until this virtual time. */
  downUntil = 0;
  tickPhase: number;

  constructor(
    readonly id: NodeId,
    config: ConfigState,
    private readonly random: RandomSource,
    private readonly unsafe: UnsafeRules | undefined,
    tickPhase: number,
    readonly asyncWrites = false,
  ) {
    this.disk = new SimDisk(config);
    this.tickPhase = tickPhase;
  }

  get up(): boolean {
    return this.raw !== undefined;
  }

  /** (Re)starts from the disk: the engine from the snapshot, then every persisted entry replayed. */
  start(): void {
    const snapshot = this.disk.storage.snapshot();
    this.restoreEngine(snapshot);
    const storage = this.disk.storage;
    for (let index = storage.firstIndex(); index <= storage.lastIndex(); index++) {
      this.applyToEngine(storage.entries(index, index + 1, Number.MAX_SAFE_INTEGER)[0]!);
    }
    this.applied = snapshot.index;
    this.appliedPosition = this.positionAt.get(snapshot.index + 1)!;
    this.raw = new RawNode({
      id: this.id,
      storage,
      random: this.random,
      electionTicks: 10,
      heartbeatTicks: 1,
      maxInflightMessages: 8,
      maxMessageBytes: 4096,
      unsafe: this.unsafe,
      asyncStorageWrites: this.asyncWrites,
    });
    this.pending.clear();
    this.pendingWrites = [];
  }

  crash(): void {
    this.raw = undefined;
    this.pending.clear();
    this.pendingWrites = [];
  }

  restoreEngine(snapshot: Snapshot): void {
    this.positionAt = new Map();
    this.idAt = new Map();
    if (snapshot.index === 0) {
      this.engine = newEngineState(DEFAULT_ID_WINDOW);
    } else {
      const data = decodeSnapshotData(snapshot.data);
      this.engine = decodeCheckpoint(Buffer.from(data.checkpoint), DEFAULT_ID_WINDOW);
      for (const [position, id] of data.ids) this.idAt.set(position, id);
    }
    this.engineIndex = snapshot.index;
    this.positionAt.set(snapshot.index + 1, this.engine.nextPosition);
  }

  /** Applies an entry's events to the engine, which follows this node's whole log (committed or not). */
  applyToEngine(entry: Entry): void {
    if (entry.index !== this.engineIndex + 1)
      throw new Error(`${this.id}: engine at ${this.engineIndex}, entry ${entry.index}`);
    const batch = entry.kind === 'normal' ? decodeBatch(entry.data) : undefined;
    this.positionAt.set(entry.index, this.engine.nextPosition);
    if (batch) {
      if (batch.position !== this.engine.nextPosition) {
        throw new Error(
          `${this.id}: entry ${entry.index} starts at position` +
            ` ${batch.position}, the log is at ${this.engine.nextPosition}`,
        );
      }
      for (const event of batch.events) {
        this.idAt.set(this.engine.nextPosition, event.id);
        applyEvent(this.engine, {
          stream: event.stream,
          index: event.index,
          position: this.engine.nextPosition,
          id: event.id,
          idGenerated: false,
          timestamp: batch.timestamp,
        });
      }
    }
    this.engineIndex = entry.index;
    this.engineTerm.set(entry.index, entry.term);
    this.positionAt.set(entry.index + 1, this.engine.nextPosition);
  }

  /** The log was cut from `index` on (a new leader overwrote it): forget those events. */
  truncateEngine(index: number): void {
    const position = this.positionAt.get(index);
    if (position === undefined) throw new Error(`${this.id}: no position known for entry ${index}`);
    truncateState(this.engine, position - 1);
    for (const key of [...this.idAt.keys()]) if (key >= position) this.idAt.delete(key);
    for (const key of [...this.positionAt.keys()]) if (key > index) this.positionAt.delete(key);
    for (const key of [...this.engineTerm.keys()]) if (key >= index) this.engineTerm.delete(key);
    this.engineIndex = index - 1;
  }

  /** Snapshot data for compaction at `index` (≤ applied): the engine checkpoint as of that entry. */
  snapshotData(index: number, chain: number): Uint8Array {
    const nextPosition = this.positionAt.get(index + 1);
    if (nextPosition === undefined) throw new Error(`${this.id}: no position after entry ${index}`);
    const ids: Array<[number, string]> = [];
    for (const [position, id] of this.idAt) if (position < nextPosition) ids.push([position, id]);
    return encodeSnapshotData({
      checkpoint: encodeCheckpoint(this.engine, nextPosition - 1),
      chain,
      nextPosition,
      ids,
    });
  }
}

export interface SnapshotData {
  checkpoint: Uint8Array;
  chain: number;
  nextPosition: number;
  ids: Array<[number, string]>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeSnapshotData(data: SnapshotData): Uint8Array {
  const meta = encoder.encode(JSON.stringify({ chain: data.chain, nextPosition: data.nextPosition, ids: data.ids }));
  const out = new Uint8Array(4 + meta.byteLength + data.checkpoint.byteLength);
  new DataView(out.buffer).setUint32(0, meta.byteLength, true);
  out.set(meta, 4);
  out.set(data.checkpoint, 4 + meta.byteLength);
  return out;
}

export function decodeSnapshotData(bytes: Uint8Array): SnapshotData {
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  const meta = JSON.parse(decoder.decode(bytes.subarray(4, 4 + length))) as {
    chain: number;
    nextPosition: number;
    ids: Array<[number, string]>;
  };
  return { ...meta, checkpoint: bytes.subarray(4 + length) };
}
