import type { AppendOperation, History, ObservedEvent, ReadOperation } from './history.js';

/**
 * The error classes of Jepsen's log and queue checkers, in Ordo's terms:
 * - `lost`: an append was acknowledged, and the log read after healing does not hold it
 *   (though it starts after the append's position: retention removed what came before);
 * - `duplicate`: one event id at two positions (written twice);
 * - `inconsistent-position`: two different events seen at one position, or an event seen at
 *   another position or index than its acknowledgement said;
 * - `aborted-read` (G1a): an append that failed is visible;
 * - `skipped-position`: a reader of the whole log jumped over a position (other than to the
 *   log's start, after finding its next position removed by retention);
 * - `non-monotonic`: a reader saw a position again or went backwards;
 * - `expected-count`: two appends accepted with the same expected count on one stream, or
 *   one placed at another index than its expected count;
 * - `stream-index`: the final log's indexes of a stream are not 0, 1, 2… in log order (from
 *   the first one kept, once retention removed the oldest: at least past any index seen there).
 */
export type ViolationClass =
  | 'lost'
  | 'duplicate'
  | 'inconsistent-position'
  | 'aborted-read'
  | 'skipped-position'
  | 'non-monotonic'
  | 'expected-count'
  | 'stream-index';

export const VIOLATION_CLASSES: readonly ViolationClass[] = [
  'lost',
  'duplicate',
  'inconsistent-position',
  'aborted-read',
  'skipped-position',
  'non-monotonic',
  'expected-count',
  'stream-index',
];

export interface Violation {
  class: ViolationClass;
  detail: string;
}

export interface CheckReport {
  valid: boolean;
  /** Every violation's count by class (all of them, even past `maxDetails`). */
  byClass: Record<ViolationClass, number>;
  /** The first `maxDetails` violations of each class. */
  violations: Violation[];
  summary: {
    appends: { ok: number; failed: number; unknown: number };
    /** Appends of unknown outcome that the final log holds (each once). */
    unknownWritten: number;
    readers: number;
    eventsObserved: number;
    finalEvents: number;
  };
}

/** Details kept per class: a broken run can have millions; the counts stay exact. */
const DEFAULT_MAX_DETAILS = 20;

/**
 * Checks a history. It needs exactly one `final` read: the whole log from its start (position 0,
 * or the `trimmedBefore` retention left), read after every fault healed. Everything else is
 * checked against it and against each other.
 */
export function checkHistory(history: History, options: { maxDetails?: number } = {}): CheckReport {
  const maxDetails = options.maxDetails ?? DEFAULT_MAX_DETAILS;
  const byClass = Object.fromEntries(VIOLATION_CLASSES.map((c) => [c, 0])) as Record<ViolationClass, number>;
  const violations: Violation[] = [];
  const report: Report = (cls, detail) => {
    if (byClass[cls]++ < maxDetails) violations.push({ class: cls, detail });
  };

  const final = theFinalRead(history);
  const appendsById = appendsByEventId(history);
  const observed = observeReads(history, report);
  const { counts, unknownWritten } = checkAppends(history, final, observed, report);
  checkFinalIndexes(final, appendsById, observed, report);

  const valid = VIOLATION_CLASSES.every((c) => byClass[c] === 0);
  const summary = {
    appends: counts,
    unknownWritten,
    readers: history.reads.length,
    eventsObserved: observed.eventsObserved,
    finalEvents: final.events.length,
  };
  return { valid, byClass, violations, summary };
}

type Report = (cls: ViolationClass, detail: string) => void;

/** Every event the readers saw: the event at each position, and each event id's positions. */
interface Observations {
  atPosition: Map<number, ObservedEvent>;
  positionsOf: Map<string, Set<number>>;
  eventsObserved: number;
}

/** The one read of the whole log from its start; a history without it cannot be checked. */
function theFinalRead(history: History): ReadOperation {
  const finals = history.reads.filter((r) => r.kind === 'final');
  if (finals.length !== 1) {
    throw new TypeError(`a history needs exactly one final read of the whole log, got ${finals.length}`);
  }
  const final = finals[0]!;
  const start = final.trimmedBefore ?? 0;
  if (!Number.isSafeInteger(start) || start < 0)
    throw new TypeError(`the final read's trimmedBefore must be an integer >= 0, got ${String(final.trimmedBefore)}`);
  if (final.from !== start)
    throw new TypeError(`the final read must start where its log starts (position ${start}), not at ${final.from}`);
  return final;
}

function appendsByEventId(history: History): Map<string, AppendOperation> {
  const appendsById = new Map<string, AppendOperation>();
  for (const append of history.appends) {
    if (appendsById.has(append.eventId)) {
      throw new TypeError(`event id ${append.eventId} is used by two appends: a history's event ids must be unique`);
    }
    appendsById.set(append.eventId, append);
  }
  return appendsById;
}

/** Readers: order, gaps; and every observation into one position → event map. */
function observeReads(history: History, report: Report): Observations {
  const atPosition = new Map<number, ObservedEvent>();
  const positionsOf = new Map<string, Set<number>>();
  let eventsObserved = 0;
  for (const read of history.reads) {
    checkReaderOrder(read, report);
    for (const event of read.events) {
      eventsObserved++;
      const seen = atPosition.get(event.position);
      if (!seen) atPosition.set(event.position, event);
      else if (seen.eventId !== event.eventId || seen.stream !== event.stream || seen.index !== event.index) {
        report(
          'inconsistent-position',
          `position ${event.position} holds ${describeEvent(seen)} for one reader` +
            ` and ${describeEvent(event)} for ${read.process} (${read.kind})`,
        );
      }
      let positions = positionsOf.get(event.eventId);
      if (!positions) positionsOf.set(event.eventId, (positions = new Set()));
      positions.add(event.position);
    }
  }
  for (const [eventId, positions] of positionsOf) {
    if (positions.size > 1) {
      report('duplicate', `event ${eventId} at positions ${[...positions].sort((a, b) => a - b).join(', ')}`);
    }
  }
  return { atPosition, positionsOf, eventsObserved };
}

/** Appends against what was read. */
function checkAppends(history: History, final: ReadOperation, observations: Observations, report: Report) {
  const finalIds = new Map<string, ObservedEvent>();
  for (const event of final.events) finalIds.set(event.eventId, event);
  const counts = { ok: 0, failed: 0, unknown: 0 };
  let unknownWritten = 0;
  const acceptedExpected = new Map<string, AppendOperation>();
  for (const append of history.appends) {
    counts[append.outcome]++;
    const observed = observations.positionsOf.get(append.eventId);
    if (append.outcome === 'ok') {
      checkAcknowledged(append, final, finalIds, observations, acceptedExpected, report);
    } else if (observed) {
      if (append.outcome === 'failed') {
        report(
          'aborted-read',
          `${append.process}'s append of ${append.eventId} to ${append.stream} failed` +
            ` (${append.error ?? 'error'}) but is visible at position ${[...observed].join(', ')}`,
        );
      } else if (finalIds.has(append.eventId)) unknownWritten++;
    }
  }
  return { counts, unknownWritten };
}

/** An acknowledged append: in the final log, where it was acknowledged, at its expected count. */
function checkAcknowledged(
  append: AppendOperation,
  final: ReadOperation,
  finalIds: Map<string, ObservedEvent>,
  { atPosition, positionsOf }: Observations,
  acceptedExpected: Map<string, AppendOperation>,
  report: Report,
): void {
  const observed = positionsOf.get(append.eventId);
  const inFinal = finalIds.get(append.eventId);
  if (!inFinal && !trimmedFrom(final, append)) {
    report(
      'lost',
      `${append.process} appended ${append.eventId} to ${append.stream}, acknowledged at position` +
        ` ${append.position}, not in the log after healing`,
    );
  }
  for (const position of observed ?? []) {
    if (append.position !== undefined && position !== append.position) {
      report(
        'inconsistent-position',
        `${append.eventId} was acknowledged at position ${append.position} and read at ${position}`,
      );
    }
  }
  const read = inFinal ?? (observed ? atPosition.get([...observed][0]!) : undefined);
  if (read && append.index !== undefined && read.index !== append.index) {
    report(
      'inconsistent-position',
      `${append.eventId} was acknowledged at index ${append.index} of ${append.stream}` +
        ` and read at index ${read.index}`,
    );
  }
  if (typeof append.expected !== 'number') return;
  const key = `${append.stream}\u0000${append.expected}`;
  const other = acceptedExpected.get(key);
  if (other) {
    report(
      'expected-count',
      `${other.eventId} and ${append.eventId} were both accepted on ${append.stream}` +
        ` with expected count ${append.expected}`,
    );
  } else acceptedExpected.set(key, append);
  const index = append.index ?? read?.index;
  if (index !== undefined && index !== append.expected) {
    report(
      'expected-count',
      `${append.eventId} was accepted with expected count ${append.expected} on ${append.stream}` +
        ` but placed at index ${index}`,
    );
  }
}

/** Whether retention removed `append`'s acknowledged position before the final read. */
function trimmedFrom(final: ReadOperation, append: AppendOperation): boolean {
  return append.position !== undefined && append.position < (final.trimmedBefore ?? 0);
}

/**
 * An event written with an expected count, but whose append was not acknowledged, is still
 * subject to the count: the final log's stream indexes must be 0, 1, 2…
 */
function checkFinalIndexes(
  final: ReadOperation,
  appendsById: Map<string, AppendOperation>,
  observations: Observations,
  report: Report,
): void {
  const nextIndex = new Map<string, number>();
  const removed = indexesBelow(final.trimmedBefore ?? 0, observations);
  for (const event of final.events) {
    const next = nextIndex.get(event.stream);
    const expected = next ?? removed.get(event.stream) ?? 0;
    const kept = next === undefined && (final.trimmedBefore ?? 0) > 0;
    if (kept ? event.index < expected : event.index !== expected) {
      report(
        'stream-index',
        `${event.stream} has index ${event.index} at position ${event.position} where ${kept ? 'at least ' : ''}${expected} was next`,
      );
    }
    nextIndex.set(event.stream, event.index + 1);
    const append = appendsById.get(event.eventId);
    if (append && append.outcome !== 'ok' && typeof append.expected === 'number' && event.index !== append.expected) {
      report(
        'expected-count',
        `${event.eventId} (outcome ${append.outcome}) was written with expected count ${append.expected}` +
          ` on ${event.stream} at index ${event.index}`,
      );
    }
  }
}

/** A reader of the whole log sees positions from its start, each once, in order, without gaps. */
function checkReaderOrder(read: ReadOperation, report: (cls: ViolationClass, detail: string) => void): void {
  let previous = read.from - 1;
  const restarts = restartsOf(read);
  for (const event of read.events) {
    if (event.position <= previous) {
      report('non-monotonic', `${read.process} (${read.kind}) saw position ${event.position} after ${previous}`);
    } else if (event.position > previous + 1 && !restarts.get(previous)?.has(event.position)) {
      report(
        'skipped-position',
        `${read.process} (${read.kind}) went from position ${previous} to ${event.position},` +
          ` skipping ${event.position - previous - 1}`,
      );
    }
    previous = Math.max(previous, event.position);
  }
}

/** Where a reader went on after each last position it had seen, when it found the next removed. */
function restartsOf(read: ReadOperation): Map<number, Set<number>> {
  const restarts = new Map<number, Set<number>>();
  for (const { after, from } of read.restarts ?? []) {
    let froms = restarts.get(after);
    if (!froms) restarts.set(after, (froms = new Set()));
    froms.add(from);
  }
  return restarts;
}

/**
 * For each stream, one past the highest index any reader saw below `start`: where the first
 * index the final log kept must be at least, once retention removed what came before.
 */
function indexesBelow(start: number, { atPosition }: Observations): Map<string, number> {
  const next = new Map<string, number>();
  for (const [position, event] of atPosition)
    if (position < start) next.set(event.stream, Math.max(next.get(event.stream) ?? 0, event.index + 1));
  return next;
}

function describeEvent(event: ObservedEvent): string {
  return `${event.eventId} (${event.stream}#${event.index})`;
}
