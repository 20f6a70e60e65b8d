import type { Expected } from '../types/errors.js';
import type { IdEntry } from './id-window.js';
import type { EngineState } from './state.js';
import type { Claim, ClaimChanges } from '../types/claims.js';
import { refusedClaim, type ClaimHolder } from './claims.js';
import { streamOfMetadataStream } from '../types/stream-metadata.js';

/** One stream's part of an append, as the engine sees it: ids only, the bytes stay outside. */
export interface AppendIntent {
  stream: string;
  expected: Expected;
  /**
   * `id` is undefined for ids the log generates: those are new by construction. An id with
   * `idGenerated` was made up by a client library for retries: it is not remembered, the first
   * event of its part (its retry key) is.
   */
  ids: ReadonlyArray<{ id: string | undefined; idGenerated: boolean; retryKey?: boolean }>;
  /**
   * The client re-sent this request after losing its connection: its retry keys are looked up
   * (a first send cannot be a duplicate of anything, so its keys are not).
   */
  resent?: boolean;
  /** Uniqueness claims and releases, checked after the expected count. */
  claims?: ClaimChanges | undefined;
  /**
   * The stream whose count `expected` is checked against, when not the one written: a deletion
   * is written to the metadata stream but expects a count of the stream it deletes.
   */
  expectedOf?: string | undefined;
  /** An erasure (a tombstone that removes the bytes): the one change a tombstoned stream still takes. */
  erases?: boolean | undefined;
}

export interface PlannedAppend {
  stream: string;
  /** Position of its first event. */
  position: number;
  /** Stream index of its first event. */
  index: number;
  /** Stream count after it. */
  count: number;
}

export type Decision =
  /** Write: intent i's events take positions `appends[i].position …` and indexes `appends[i].index …`. */
  | { kind: 'write'; appends: PlannedAppend[] }
  /** Every id is already in the log where this append asked for it: answer the original result. */
  | { kind: 'duplicate'; appends: PlannedAppend[] }
  /**
   * The expected-count check failed. `retryOf` is set when the events may already be at the
   * place asked for but the id window cannot tell (too old): the caller compares ids on disk.
   */
  | {
      kind: 'conflict';
      intent: number;
      stream: string;
      expected: Expected;
      actual: number;
      retryOf?: { index: number };
    }
  /** Intent `intent` claims (or releases) a value another stream holds. */
  | {
      kind: 'claim-conflict';
      intent: number;
      stream: string;
      claim: Claim;
      operation: 'claim' | 'release';
      holder: ClaimHolder;
    }
  /** An id is in the log already, but not as part of this same append. */
  | { kind: 'id-reused'; id: string; existing: IdEntry }
  /** Intent `intent` writes a tombstoned stream (or its metadata). */
  | { kind: 'tombstoned'; intent: number; stream: string };

/**
 * Decides an atomic append of one or more streams against the current state (the leader's own
 * log, including appends not yet committed). Pure: it reads `state` and changes nothing.
 */
export function decideAppend(state: EngineState, intents: readonly AppendIntent[]): Decision {
  const idCheck = checkKnownIds(state, intents);
  if (idCheck) return idCheck;

  const appends: PlannedAppend[] = [];
  // Counts as the earlier parts of this same append leave them (a stream may appear twice).
  const counts = new Map<string, number>();
  let pendingClaims: Map<string, string | null> | undefined;
  let position = state.nextPosition;
  for (let i = 0; i < intents.length; i++) {
    const intent = intents[i]!;
    const described = streamOfMetadataStream(intent.stream) ?? intent.stream;
    const lifecycle = state.lifecycles.latest(described);
    // A tombstoned stream takes nothing more, but an erasure of its bytes (once).
    if (lifecycle?.tombstoned === true && !(intent.erases === true && !lifecycle.erased))
      return { kind: 'tombstoned', intent: i, stream: described };
    const counted = intent.expectedOf ?? intent.stream;
    const actual = counts.get(counted) ?? state.streams.get(counted)?.count ?? 0;
    if (!expectedHolds(intent.expected, actual)) {
      const conflict: Decision = {
        kind: 'conflict',
        intent: i,
        stream: counted,
        expected: intent.expected,
        actual,
      };
      const askedIndex = intent.expected === 'empty' ? 0 : intent.expected;
      // A retry can be recognized on disk if its first event has a known id (a writer's, or a
      // client's retry key): the caller compares the ids stored at the asked indexes.
      const keyed = intent.ids.length > 0 && intent.ids[0]!.id !== undefined && counted === intent.stream;
      if (typeof askedIndex === 'number' && actual >= askedIndex + intent.ids.length && keyed) {
        conflict.retryOf = { index: askedIndex };
      }
      return conflict;
    }
    if (intent.claims !== undefined) {
      const refused = refusedClaim(state.claims, intent.stream, intent.claims, (pendingClaims ??= new Map()));
      if (refused) return { kind: 'claim-conflict', intent: i, stream: intent.stream, ...refused };
    }
    const index =
      counted === intent.stream ? actual : (counts.get(intent.stream) ?? state.streams.get(intent.stream)?.count ?? 0);
    const count = index + intent.ids.length;
    appends.push({ stream: intent.stream, position, index, count });
    counts.set(intent.stream, count);
    position += intent.ids.length;
  }
  return { kind: 'write', appends };
}

export function expectedHolds(expected: Expected, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'empty':
      return actual === 0;
    case 'exists':
      return actual > 0;
    default:
      return actual === expected;
  }
}

/**
 * If any id is remembered, the append is either a retry of the very same append (all ids, in
 * order, contiguous, where it asked) or a misuse of ids; undefined when no id is known.
 */
function checkKnownIds(state: EngineState, intents: readonly AppendIntent[]): Decision | undefined {
  let known = 0;
  let firstKnown: IdEntry | undefined;
  let total = 0;
  for (const intent of intents) {
    for (const event of intent.ids) {
      if (event.id === undefined || event.idGenerated) continue;
      if (event.retryKey === true && intent.resent !== true) continue;
      total++;
      const entry = lookup(state, event);
      if (entry) {
        known++;
        firstKnown ??= entry;
      }
    }
  }
  if (known === 0) return undefined;
  if (known === total) {
    const appends = matchOriginal(state, intents);
    if (appends) return { kind: 'duplicate', appends };
  }
  return { kind: 'id-reused', id: firstKnown!.id, existing: firstKnown! };
}

function matchOriginal(state: EngineState, intents: readonly AppendIntent[]): PlannedAppend[] | undefined {
  const appends: PlannedAppend[] = [];
  let expectedPosition: number | undefined;
  for (const intent of intents) {
    const first = lookup(state, intent.ids[0]!);
    if (!first || first.stream !== intent.stream) return undefined;
    const askedIndex = intent.expected === 'empty' ? 0 : intent.expected;
    const counted = intent.expectedOf === undefined || intent.expectedOf === intent.stream;
    if (counted && typeof askedIndex === 'number' && first.index !== askedIndex) return undefined;
    if (expectedPosition !== undefined && first.position !== expectedPosition) return undefined;
    for (let k = 1; k < intent.ids.length; k++) {
      // A client-made id is not remembered: the retry key (first id, 122 random bits) stands for its append.
      if (intent.ids[k]!.idGenerated) continue;
      const entry = lookup(state, intent.ids[k]!);
      if (
        !entry ||
        entry.stream !== intent.stream ||
        entry.index !== first.index + k ||
        entry.position !== first.position + k
      ) {
        return undefined;
      }
    }
    appends.push({
      stream: intent.stream,
      position: first.position,
      index: first.index,
      count: first.index + intent.ids.length,
    });
    expectedPosition = first.position + intent.ids.length;
  }
  return appends;
}

/** A writer id in the id window; a retry key among the keys (or, after a reopen, the window). */
function lookup(state: EngineState, event: { id: string | undefined; retryKey?: boolean }): IdEntry | undefined {
  const id = event.id!;
  if (event.retryKey === true) return state.keys.find(id) ?? state.ids.get(id);
  return state.ids.get(id);
}
