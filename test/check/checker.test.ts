import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkHistory,
  type AppendOperation,
  type History,
  type ObservedEvent,
  type ViolationClass,
} from '../../check/index.js';

/** A clean history: appends to two streams (some with expected counts), a subscriber and a final read. */
function cleanHistory(): History {
  const appends: AppendOperation[] = [];
  const events: ObservedEvent[] = [];
  const counts = new Map<string, number>();
  for (let i = 0; i < 10; i++) {
    const stream = i % 2 === 0 ? 'hot' : 'cold';
    const index = counts.get(stream) ?? 0;
    counts.set(stream, index + 1);
    const eventId = `e${i}`;
    appends.push({
      process: 'c1',
      stream,
      eventId,
      expected: stream === 'hot' ? index : 'any',
      outcome: 'ok',
      position: i,
      index,
      invokedAt: i,
      completedAt: i + 1,
    });
    events.push({ position: i, stream, index, eventId });
  }
  // One that failed (not written) and one whose outcome is unknown (written after all).
  appends.push({
    process: 'c2',
    stream: 'hot',
    eventId: 'failed-1',
    expected: 5,
    outcome: 'failed',
    error: 'CONFLICT',
    invokedAt: 11,
    completedAt: 12,
  });
  appends.push({
    process: 'c2',
    stream: 'cold',
    eventId: 'unknown-1',
    expected: 'any',
    outcome: 'unknown',
    error: 'UNAVAILABLE',
    invokedAt: 12,
    completedAt: 13,
  });
  events.push({ position: 10, stream: 'cold', index: 5, eventId: 'unknown-1' });
  return {
    appends,
    reads: [
      { process: 's1', kind: 'subscription', from: 3, events: events.slice(3, 8) },
      { process: 'final', kind: 'final', from: 0, events },
    ],
  };
}

function classes(history: History): Partial<Record<ViolationClass, number>> {
  const report = checkHistory(history);
  return Object.fromEntries(Object.entries(report.byClass).filter(([, n]) => n > 0));
}

describe('history checker (Jepsen-style error classes)', () => {
  it('a clean history is valid, and the summary counts what happened', () => {
    const report = checkHistory(cleanHistory());
    assert.equal(report.valid, true, JSON.stringify(report.violations));
    assert.deepEqual(report.summary.appends, { ok: 10, failed: 1, unknown: 1 });
    assert.equal(report.summary.unknownWritten, 1);
    assert.equal(report.summary.finalEvents, 11);
  });

  it('lost: an acknowledged append missing from the log after healing', () => {
    const h = cleanHistory();
    h.reads[1]!.events = h.reads[1]!.events.filter((e) => e.eventId !== 'e9').map((e) =>
      e.position > 9 ? { ...e, position: e.position - 1 } : e,
    );
    const found = classes(h);
    assert.equal(found.lost, 1);
  });

  it('duplicate: one event id at two positions', () => {
    const h = cleanHistory();
    h.reads[1]!.events.push({ position: 11, stream: 'hot', index: 5, eventId: 'e4' });
    assert.equal(classes(h).duplicate, 1);
  });

  it('inconsistent position: two readers disagree about a position, or a read contradicts the acknowledgement', () => {
    const h = cleanHistory();
    h.reads[0]!.events[0] = { position: 3, stream: 'cold', index: 1, eventId: 'other' };
    assert.ok((classes(h)['inconsistent-position'] ?? 0) >= 1);
    const moved = cleanHistory();
    moved.appends[2]!.position = 7;
    assert.equal(classes(moved)['inconsistent-position'], 1);
  });

  it('aborted read (G1a): a failed append is visible', () => {
    const h = cleanHistory();
    h.reads[1]!.events.push({ position: 11, stream: 'hot', index: 5, eventId: 'failed-1' });
    assert.equal(classes(h)['aborted-read'], 1);
  });

  it('skipped position: a reader jumped over a committed event', () => {
    const h = cleanHistory();
    h.reads[0]!.events.splice(2, 1);
    assert.deepEqual(classes(h), { 'skipped-position': 1 });
    // From its start, too: a subscription from 3 whose first event is 4.
    const late = cleanHistory();
    late.reads[0]!.events.shift();
    assert.deepEqual(classes(late), { 'skipped-position': 1 });
  });

  it('non-monotonic: a reader saw a position again or went back', () => {
    const h = cleanHistory();
    const events = h.reads[0]!.events;
    events.push(events[1]!);
    assert.deepEqual(classes(h), { 'non-monotonic': 1 });
  });

  it('expected-count: two appends accepted with one expected count, or one placed at another index', () => {
    const h = cleanHistory();
    // A second acknowledged append on 'hot' with expected 0 (the log holds both).
    h.appends.push({
      process: 'c3',
      stream: 'hot',
      eventId: 'twin',
      expected: 0,
      outcome: 'ok',
      position: 11,
      index: 5,
      invokedAt: 20,
      completedAt: 21,
    });
    h.reads[1]!.events.push({ position: 11, stream: 'hot', index: 5, eventId: 'twin' });
    assert.deepEqual(classes(h), { 'expected-count': 2 });
  });

  it("stream index: the final log's indexes of a stream have a gap", () => {
    const h = cleanHistory();
    h.reads[1]!.events[10] = { ...h.reads[1]!.events[10]!, index: 7 };
    assert.equal(classes(h)['stream-index'], 1);
  });

  it('refuses a history it cannot judge, and caps the details but not the counts', () => {
    const h = cleanHistory();
    assert.throws(() => checkHistory({ ...h, reads: [h.reads[0]!] }), /exactly one final read/);
    assert.throws(
      () => checkHistory({ ...h, appends: [...h.appends, h.appends[0]!] }),
      /event id e0 is used by two appends/,
    );
    const many = cleanHistory();
    many.reads[1]!.events = many.reads[1]!.events.slice(0, 1);
    const report = checkHistory(many, { maxDetails: 3 });
    assert.equal(report.byClass.lost, 9);
    assert.equal(report.violations.filter((v) => v.class === 'lost').length, 3);
  });

  /** The clean history with the final read starting at `start`, as after retention removed what came before. */
  function trimmed(start: number): History {
    const h = cleanHistory();
    const final = h.reads[1]!;
    h.reads[1] = {
      ...final,
      from: start,
      trimmedBefore: start,
      events: final.events.filter((e) => e.position >= start),
    };
    return h;
  }

  it('a final read of a log retention trimmed: what is below its start is not lost, the rest still counts', () => {
    // Given a final read from position 4 (retention removed 0..3)
    // Then the acknowledged appends at 0..3 are not lost, and the history is valid
    const report = checkHistory(trimmed(4));
    assert.equal(report.valid, true, JSON.stringify(report.violations));
    // But an acknowledged append at or above the start missing from it is
    const lost = trimmed(4);
    lost.reads[1]!.events = lost.reads[1]!.events.filter((e) => e.eventId !== 'e4');
    assert.equal(classes(lost).lost, 1);
    // And a duplicate above the start is still one
    const twice = trimmed(4);
    twice.reads[1]!.events.push({ position: 11, stream: 'hot', index: 5, eventId: 'e6' });
    assert.ok((classes(twice).duplicate ?? 0) >= 1);
  });

  it("a trimmed final read's stream indexes start at the first kept, never below one a reader saw removed", () => {
    // Given a final read from 4, and no reader saw 'hot' below it: its first kept index (2) is taken
    const unseen = trimmed(4);
    unseen.reads[0] = { ...unseen.reads[0]!, from: 5, events: unseen.reads[0]!.events.slice(2) };
    assert.deepEqual(classes(unseen), {});
    // When the subscriber saw 'hot' index 1 at position 2, but the final read's first 'hot' is index 1 again
    const h = trimmed(4);
    h.reads[0] = { ...h.reads[0]!, from: 2, events: [{ position: 2, stream: 'hot', index: 1, eventId: 'e2' }] };
    h.reads[1]!.events = h.reads[1]!.events.map((e) => (e.stream === 'hot' ? { ...e, index: e.index - 1 } : e));
    // Then the index is reported (and the acknowledgements it contradicts)
    assert.ok((classes(h)['stream-index'] ?? 0) >= 1);
  });

  it('a reader that found its next position removed may go on from the start it recorded, nowhere else', () => {
    // Given a subscriber that saw 3 and 4, found 5 removed, and resumed at the log's start, 7
    const h = cleanHistory();
    const events = h.reads[0]!.events;
    h.reads[0] = {
      ...h.reads[0]!,
      events: [...events.slice(0, 2), h.reads[1]!.events[7]!],
      restarts: [{ after: 4, from: 7 }],
    };
    // Then the jump is no skipped position
    assert.deepEqual(classes(h), {});
    // But a jump to another position than the recorded start is one
    h.reads[0]!.restarts = [{ after: 4, from: 6 }];
    assert.deepEqual(classes(h), { 'skipped-position': 1 });
  });

  it('refuses a final read that does not start where its log starts', () => {
    const h = trimmed(4);
    h.reads[1]!.from = 0;
    assert.throws(() => checkHistory(h), /must start where its log starts \(position 4\), not at 0/);
    h.reads[1]!.trimmedBefore = -1;
    assert.throws(() => checkHistory(h), /trimmedBefore must be an integer >= 0, got -1/);
  });
});
