import type { Message, RandomSource } from '../../src/raft/index.js';
import type { PeerTransport, SnapshotFrame } from '../../src/node/index.js';
import { decodeRaftMessage, encodeRaftMessage } from '../../src/protocol/raft-messages.js';
import type { VirtualTime } from './virtual-time.js';

/** What the network does to messages while faults are on (per message; partitions are set by the nemesis). */
export interface NetworkRates {
  drop: number;
  duplicate: number;
  /** Chance a message is held back by up to `maxDelayMs` (which reorders it behind later ones). */
  delay: number;
  maxDelayMs: number;
}

export const DEFAULT_NETWORK_RATES: NetworkRates = { drop: 0.02, duplicate: 0.02, delay: 0.05, maxDelayMs: 40 };
/** One-way latency of an undisturbed message, virtual ms (uniform in [1, n]). */
export const BASE_DELAY_MS = 2;

export interface NetworkCounts {
  drop: number;
  duplicate: number;
  delay: number;
  cut: number;
}

type Packet = Message | SnapshotFrame;

/**
 * The peers' network: every message is copied through its wire encoding (nothing is shared
 * between nodes), then delivered after a virtual delay, unless a fault drops it, doubles it,
 * holds it back, or a partition cuts its link (checked when it arrives, as a reset connection
 * loses what was in flight).
 */
export class SimNetwork {
  /** Directed links that carry nothing: `from>to`. */
  private readonly cuts = new Set<string>();
  private readonly receivers = new Map<string, (packet: Packet) => void>();
  faultsOn = true;
  readonly counts: NetworkCounts = { drop: 0, duplicate: 0, delay: 0, cut: 0 };

  constructor(
    private readonly time: VirtualTime,
    private readonly random: RandomSource & { float(): number },
    private readonly rates: NetworkRates,
    private readonly enabled: { drop: boolean; duplicate: boolean; delay: boolean },
  ) {}

  /** Where packets for `id` go now (undefined: the node is down, they are lost). */
  attach(id: string, receive: ((packet: Packet) => void) | undefined): void {
    if (receive) this.receivers.set(id, receive);
    else this.receivers.delete(id);
  }

  cut(from: string, to: string): void {
    this.cuts.add(`${from}>${to}`);
  }

  healAll(): void {
    this.cuts.clear();
  }

  /** The transport of one process of node `id`; it goes silent once `alive()` turns false. */
  transport(id: string, alive: () => boolean): PeerTransport {
    let closed = false;
    return {
      send: (messages) => {
        if (closed || !alive()) return;
        for (const m of messages) this.post(m.from, m.to, decodeRaftMessage(encodeRaftMessage(m)));
      },
      sendSnapshotFrame: (frame) => {
        if (closed || !alive()) return;
        const copy: SnapshotFrame =
          frame.type === 'snapshot-data'
            ? { ...frame, bytes: Uint8Array.prototype.slice.call(frame.bytes) }
            : { ...frame };
        this.post(id, frame.to, copy);
      },
      close: async () => {
        closed = true;
      },
    };
  }

  private post(from: string, to: string, packet: Packet): void {
    const faults = this.faultsOn;
    if (faults && this.enabled.drop && this.random.float() < this.rates.drop) {
      this.counts.drop++;
      return;
    }
    let copies = 1;
    if (faults && this.enabled.duplicate && this.random.float() < this.rates.duplicate) {
      this.counts.duplicate++;
      copies = 2;
    }
    for (let c = 0; c < copies; c++) {
      let delay = 1 + this.random.int(BASE_DELAY_MS);
      if (faults && this.enabled.delay && this.random.float() < this.rates.delay) {
        this.counts.delay++;
        delay += this.random.int(this.rates.maxDelayMs);
      }
      this.time.after(delay, () => {
        if (this.cuts.has(`${from}>${to}`)) {
          this.counts.cut++;
          return;
        }
        this.receivers.get(to)?.(packet);
      });
    }
  }
}
