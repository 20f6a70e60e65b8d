import {
  MemoryStorage,
  RawNode,
  seededRandom,
  type Message,
  type NodeId,
  type Ready,
  type RaftOptions,
} from '../../src/raft/index.js';

/**
 * A tiny synchronous cluster for unit tests: every node's Ready is persisted to its
 * MemoryStorage and its messages are queued; `deliverAll()` passes messages until quiet,
 * dropping those across `cut` links. Applied entries are collected per node.
 */
export class TestCluster {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly applied = new Map<NodeId, Array<{ index: number; term: number; data: string }>>();
  readonly readStates = new Map<NodeId, Array<{ index: number; context: number }>>();
  readonly cut = new Set<string>();
  queue: Message[] = [];
  sent: Message[] = [];

  constructor(ids: NodeId[], options: Partial<RaftOptions> = {}, voters: NodeId[] = ids) {
    ids.forEach((id, i) => {
      const storage = new MemoryStorage({ voters: voters.includes(id) ? voters : [], learners: [] });
      this.storages.set(id, storage);
      this.applied.set(id, []);
      this.readStates.set(id, []);
      this.nodes.set(id, new RawNode({ id, storage, random: seededRandom(i + 1), ...options }));
    });
  }

  node(id: NodeId): RawNode {
    return this.nodes.get(id)!;
  }

  /** Processes every pending Ready (persist, queue messages, apply, advance). */
  settle(): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const [id, node] of this.nodes) {
        while (node.hasReady()) {
          any = true;
          this.handle(id, node, node.ready());
        }
      }
      if (!any) return;
    }
    throw new Error('cluster does not settle');
  }

  private handle(id: NodeId, node: RawNode, ready: Ready): void {
    const storage = this.storages.get(id)!;
    if (ready.snapshot) storage.applySnapshot(ready.snapshot);
    storage.append(ready.entries);
    if (ready.hardState) storage.hardState = ready.hardState;
    for (const m of ready.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    for (const entry of ready.committedEntries) {
      if (entry.kind === 'normal' && entry.data.byteLength > 0)
        this.applied
          .get(id)!
          .push({ index: entry.index, term: entry.term, data: new TextDecoder().decode(entry.data) });
    }
    this.readStates.get(id)!.push(...ready.readStates);
    node.advance(ready);
  }

  /** Delivers queued messages (and what they cause) until none are left. */
  deliverAll(filter: (m: Message) => boolean = () => true): void {
    this.settle();
    for (let round = 0; this.queue.length > 0; round++) {
      if (round > 10_000) throw new Error('messages never stop');
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        if (this.cut.has(m.from) || this.cut.has(m.to) || !filter(m)) continue;
        this.nodes.get(m.to)?.step(m);
      }
      this.settle();
    }
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
    this.settle();
  }

  /** Ticks every node (not the cut ones) `times` times, delivering after each round. */
  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const [id, node] of this.nodes) if (!this.cut.has(id)) node.tick();
      this.deliverAll();
    }
  }

  elect(id: NodeId): void {
    this.node(id).campaign();
    this.deliverAll();
  }

  propose(id: NodeId, text: string): { index: number; term: number } {
    const at = this.node(id).propose(new TextEncoder().encode(text));
    this.deliverAll();
    return at;
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.status().role === 'leader').map(([id]) => id);
  }
}
