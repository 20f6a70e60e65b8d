import type { Message } from '../../src/raft/index.js';
import type { PeerTransport } from '../../src/node/replicator.js';
import type { SnapshotFrame } from '../../src/node/snapshot-transfer.js';

/**
 * Raft messages between logs in one process, for tests: delivered on a later turn (as a socket
 * would), dropped across cut links or to nodes that are down.
 */
export class MemoryNetwork {
  private readonly nodes = new Map<string, (m: Message | SnapshotFrame) => void>();
  readonly cut = new Set<string>();
  /** Share of messages lost, and of messages held back up to `maxDelayMs` (which reorders them). */
  dropRate = 0;
  delayRate = 0;
  maxDelayMs = 20;
  /** Snapshot transfer frames it returns false for are lost. */
  frameFilter: ((frame: SnapshotFrame) => boolean) | undefined;

  transport(id: string): PeerTransport {
    return {
      send: (messages) => {
        for (const m of messages) {
          if (this.cut.has(m.from) || this.cut.has(m.to)) continue;
          if (this.dropRate > 0 && Math.random() < this.dropRate) continue;
          if (this.delayRate > 0 && Math.random() < this.delayRate) {
            setTimeout(() => this.nodes.get(m.to)?.(m), Math.random() * this.maxDelayMs);
            continue;
          }
          setImmediate(() => this.nodes.get(m.to)?.(m));
        }
      },
      sendSnapshotFrame: (frame) => {
        if (this.cut.has(frame.from) || this.cut.has(frame.to)) return;
        if (this.frameFilter && !this.frameFilter(frame)) return;
        setImmediate(() => this.nodes.get(frame.to)?.(frame));
      },
      close: async () => {
        this.nodes.delete(id);
      },
    };
  }

  attach(id: string, deliver: (m: Message | SnapshotFrame) => void): void {
    this.nodes.set(id, deliver);
  }

  detach(id: string): void {
    this.nodes.delete(id);
  }
}
