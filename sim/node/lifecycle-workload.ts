import type { LifecycleChange } from '../../src/engine/lifecycle.js';
import type { OrdoNode } from '../../src/node/index.js';
import type { Expected } from '../../src/types/errors.js';
import type { StreamMetadata } from '../../src/types/stream-metadata.js';

/**
 * Stream metadata, soft deletes and tombstones in the node simulator, chosen so that nothing
 * is ever hidden (the history checker needs every position of the log): metadata changes keep
 * `maxCount` far above any stream's count, and deletions and appends of the `void-*` streams
 * all expect an empty stream, so a delete, a tombstone or an erasure only ever lands on a stream with no
 * events, and an append only on one that is neither deleted nor tombstoned. What is checked is
 * what lifecycles add: the engine's lifecycle state on every node matches the metadata
 * streams' history after crashes, truncations, checkpoints and snapshots, and no append gets
 * past a tombstone, and every node finishes every erasure (which seals its active segment and
 * rewrites its segments as crashes, truncations and snapshots come).
 */
export interface LifecycleCall {
  /** The stream the change is about. */
  target: string;
  change: LifecycleChange;
  /** The expected count sent: the metadata stream's for a metadata change, the target's for a delete. */
  expected: Expected;
}

/** What the client sends next: a lifecycle change (recorded as an append to the metadata stream) or a plain append. */
export interface PlannedCall {
  stream: string;
  /** The expected count as the history checker sees it (a delete's is not the metadata stream's). */
  expected: 'any' | number;
  lifecycle?: LifecycleCall | undefined;
}

const VOID_STREAMS = 4;
/** Far above any stream's count in a run: a maxCount that never hides anything. */
const NEVER_HIDING_MAX_COUNT = 1_000_000_000;
/** The streams the workload's appends use, which get metadata now and then. */
export const WRITTEN_STREAMS = ['hot-0', 'hot-1', ...Array.from({ length: 8 }, (_, i) => `s-${i}`)];
export const LIFECYCLE_STREAMS = [...WRITTEN_STREAMS, ...Array.from({ length: VOID_STREAMS }, (_, i) => `void-${i}`)];

/** Asks a node something within the client's attempt timeout; undefined if it did not answer. */
export type Ask = <T>(question: (log: OrdoNode) => Promise<T>) => Promise<T | undefined>;

/** Picks the next lifecycle operation; undefined when the node it asked did not answer. */
export async function planLifecycleCall(
  random: { int(bound: number): number },
  ask: Ask,
  n: number,
): Promise<PlannedCall | undefined> {
  const target = `void-${random.int(VOID_STREAMS)}`;
  switch (random.int(5)) {
    case 0: {
      const stream = WRITTEN_STREAMS[random.int(WRITTEN_STREAMS.length)]!;
      const current = await ask((log) => log.getStreamMetadata(stream));
      if (!current) return undefined;
      const metadata: StreamMetadata = { maxCount: NEVER_HIDING_MAX_COUNT, custom: { n } };
      const expected = current.metadataCount;
      return {
        stream: `$$${stream}`,
        expected,
        lifecycle: { target: stream, change: { kind: 'metadata', metadata }, expected },
      };
    }
    case 1:
      return {
        stream: `$$${target}`,
        expected: 'any',
        lifecycle: { target, change: { kind: 'tombstone' }, expected: 'empty' },
      };
    case 2:
      return {
        stream: `$$${target}`,
        expected: 'any',
        lifecycle: { target, change: { kind: 'delete' }, expected: 'empty' },
      };
    case 3:
      return {
        stream: `$$${target}`,
        expected: 'any',
        lifecycle: { target, change: { kind: 'tombstone', erase: true }, expected: 'empty' },
      };
    default:
      return { stream: target, expected: 0 };
  }
}
