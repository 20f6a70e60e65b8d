import type { Event, EventLog } from '../src/types/event.js';
import type { StreamMetadata } from '../src/types/stream-metadata.js';

/**
 * Checks of stream lifecycles after a run, for any log (the node simulator's nodes, the chaos
 * harness's clients of each node): what every node says of each stream's metadata, deletion
 * and tombstone must be what the stream's metadata stream says, read from one node; and a
 * stream that was only ever appended to while empty holds no event once tombstoned. Once
 * retention removed the start of a metadata stream, what is left of it no longer says all
 * (its first events set what later ones keep): then every node must say what that node says.
 */
/** What a metadata stream's history makes of its stream (the rule the engine applies). */
interface DerivedLifecycle {
  metadata: StreamMetadata;
  metadataCount: number;
  tombstoned: boolean;
}

function derive(history: readonly Event[], countAtDelete: number): DerivedLifecycle {
  let metadata: StreamMetadata = {};
  let tombstoned = false;
  for (const event of history) {
    if (event.type === '$metadata') metadata = JSON.parse(Buffer.from(event.data).toString('utf8')) as StreamMetadata;
    else if (event.type === '$deleted')
      metadata = { ...metadata, truncateBefore: Math.max(metadata.truncateBefore ?? 0, countAtDelete) };
    else if (event.type === '$tombstone' || event.type === '$erased') tombstoned = true;
  }
  return { metadata, metadataCount: history.length, tombstoned };
}

/**
 * After the heal: every serving node's lifecycle of each of `streams` is what its metadata
 * stream's history (read on `leader`) says, and a tombstoned `void-*` stream holds no event
 * (each was appended to only while empty, so an event there got past the tombstone).
 */
export async function checkLifecycles(
  streams: readonly string[],
  leader: EventLog,
  serving: ReadonlyArray<{ id: string; log: EventLog }>,
): Promise<string[]> {
  const violations: string[] = [];
  for (const stream of streams) {
    const history: Event[] = [];
    for await (const event of leader.read(`$$${stream}`, { consistency: 'local' })) history.push(event);
    const told = await leader.getStreamMetadata(stream, { consistency: 'local' });
    // Deletes only ever land on empty streams (they expect 'empty').
    const expected = trimmed(history, told.metadataCount) ? told : derive(history, 0);
    const last = history[history.length - 1];
    if (last && last.index + 1 !== told.metadataCount)
      violations.push(`lifecycle: $$${stream} ends at index ${last.index}, its count is ${told.metadataCount}`);
    if (stream.startsWith('void-') && expected.tombstoned && (await leader.count(stream)) > 0)
      violations.push(`lifecycle: tombstoned ${stream} holds ${await leader.count(stream)} events`);
    for (const { id, log } of serving) {
      const got = await log.getStreamMetadata(stream, { consistency: 'local' });
      const mismatch =
        canonical(got.metadata) !== canonical(expected.metadata) ||
        got.metadataCount !== expected.metadataCount ||
        got.tombstoned !== expected.tombstoned;
      if (mismatch)
        violations.push(
          `lifecycle: ${id} says ${stream} is ${canonical(got)}, its metadata stream says ${canonical(expected)}`,
        );
    }
  }
  return violations;
}

/** Whether retention removed the start of a metadata stream, of `count` events, that still holds `history`. */
function trimmed(history: readonly Event[], count: number): boolean {
  return history.length === 0 ? count > 0 : history[0]!.index > 0;
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}
