import { IdWindow, type IdWindowLimits } from './id-window.js';
import { RetryKeys } from './retry-keys.js';
import { invariantFailed } from './assert.js';
import { ClaimTable } from './claims.js';
import type { ClaimChanges } from '../types/claims.js';
import {
  firstIndexAfter,
  forgetBefore,
  newStreamState,
  positionAt,
  pushPosition,
  truncateStream,
  type StreamState,
} from './stream-state.js';
import { Lifecycles, type LifecycleChange } from './lifecycle.js';
import { streamOfMetadataStream } from '../types/stream-metadata.js';

/**
 * The log's state machine: what the log holds, as far as appends need to know. Built only by
 * `applyEvent`, in position order, both when the leader accepts an append and when the log is
 * replayed: one path, so a reopened log decides exactly as the running one did.
 */
export interface EngineState {
  readonly streams: Map<string, StreamState>;
  /** Position the next event will get (= events applied). */
  nextPosition: number;
  readonly ids: IdWindow;
  /** Clients' retry keys: looked up only for re-sent requests (see retry-keys.ts). */
  readonly keys: RetryKeys;
  /** Values held in uniqueness claim sets (see claims.ts). */
  readonly claims: ClaimTable;
  /** Streams' metadata, deletions and tombstones, as their metadata streams set them (see lifecycle.ts). */
  readonly lifecycles: Lifecycles;
}

export function newEngineState(limits: IdWindowLimits): EngineState {
  return {
    streams: new Map(),
    nextPosition: 0,
    ids: new IdWindow(limits),
    keys: new RetryKeys(),
    claims: new ClaimTable(),
    lifecycles: new Lifecycles(),
  };
}

/** What the engine keeps of one event. */
export interface AppliedEvent {
  stream: string;
  index: number;
  position: number;
  /** Undefined for generated ids, which cannot be retried and so are not remembered. */
  id: string | undefined;
  idGenerated: boolean;
  /** The id is a client's retry key: remembered in `keys`, not in the id window. */
  retryKey?: boolean;
  timestamp: number;
  /** Claim changes of the append part this event opens (only its first event carries them). */
  claims?: ClaimChanges | undefined;
  /** A metadata stream's event: the change it makes to the stream it describes. */
  lifecycle?: LifecycleChange | undefined;
  /** A scavenge point: per stream, the index below which its events are gone for good. */
  gone?: GoneFloors | undefined;
}

/** Per stream, the index below which its events are gone for good (a scavenge point's content). */
export type GoneFloors = ReadonlyArray<readonly [stream: string, before: number]>;

/** Applies one event. Reads `event` only during the call, so callers may reuse the object. */
export function applyEvent(state: EngineState, event: AppliedEvent): void {
  if (event.position !== state.nextPosition)
    invariantFailed(`event at position ${event.position}, expected ${state.nextPosition}`);
  let stream = state.streams.get(event.stream);
  if (!stream) {
    stream = newStreamState();
    state.streams.set(event.stream, stream);
  }
  if (event.index !== stream.count)
    invariantFailed(`stream ${event.stream}: event at index ${event.index}, count is ${stream.count}`);
  pushPosition(stream, event.position);
  state.nextPosition++;
  if (event.claims !== undefined) state.claims.apply(event.stream, event.position, event.claims);
  if (event.lifecycle !== undefined) applyLifecycle(state, event.stream, event.position, event.lifecycle);
  if (event.gone !== undefined) applyGone(state, event.position, event.gone);
  if (event.retryKey === true) {
    state.keys.add(event.id!, event.stream, event.index, event.position, event.timestamp);
  } else if (!event.idGenerated && event.id !== undefined) {
    state.ids.add({
      id: event.id,
      stream: event.stream,
      index: event.index,
      position: event.position,
      timestamp: event.timestamp,
    });
  }
}

function applyLifecycle(state: EngineState, metadataStream: string, position: number, change: LifecycleChange): void {
  const stream = streamOfMetadataStream(metadataStream);
  if (stream === undefined) invariantFailed(`lifecycle change in ${metadataStream}, which is not a metadata stream`);
  state.lifecycles.apply(stream, change, position, streamCount(state, stream));
}

function applyGone(state: EngineState, position: number, floors: GoneFloors): void {
  for (const [stream, before] of floors)
    state.lifecycles.apply(stream, { kind: 'gone', before }, position, streamCount(state, stream));
}

export function streamCount(state: EngineState, stream: string): number {
  return state.streams.get(stream)?.count ?? 0;
}

/** Position of `stream`'s event at `index`, if it has one. */
export function positionOf(state: EngineState, stream: string, index: number): number | undefined {
  const entry = state.streams.get(stream);
  return entry ? positionAt(entry, index) : undefined;
}

/** Forgets every event beyond `position` (the log was truncated under it). */
export function truncateState(state: EngineState, position: number): void {
  for (const [name, stream] of state.streams) {
    truncateStream(stream, position);
    if (stream.count === 0) state.streams.delete(name);
  }
  state.ids.truncateAfter(position);
  state.keys.truncateAfter(position);
  state.claims.truncateAfter(position);
  state.lifecycles.truncateAfter(position);
  state.nextPosition = Math.min(state.nextPosition, position + 1);
}

/**
 * Everything up to `position` is committed: no truncation will undo it. Returns the streams
 * whose tombstone settled now.
 */
export function settleState(state: EngineState, position: number): string[] {
  state.claims.settle(position);
  // A settled tombstone or gone floor is for good: the positions below it are never read again.
  const { tombstoned, gone } = state.lifecycles.settle(position);
  for (const stream of tombstoned) {
    const entry = state.streams.get(stream);
    if (entry) forgetBefore(entry, entry.count);
  }
  for (const [stream, floor] of gone) {
    const entry = state.streams.get(stream);
    if (entry) forgetBefore(entry, Math.min(floor, entry.count));
  }
  return tombstoned;
}

/** Forgets, in every stream, the positions below `position` (retention removed those events). */
export function forgetPositionsBelow(state: EngineState, position: number): void {
  for (const entry of state.streams.values()) forgetBefore(entry, firstIndexAfter(entry, entry.count, position - 1));
}

/**
 * Makes `target` hold what `source` holds (a node installs a peer's checkpoint in place of
 * the history it lacks). `target` stays the object the node's parts hold; its parts are
 * `source`'s from now on, and `source` is not to be used again.
 */
export function replaceState(target: EngineState, source: EngineState): void {
  const into = target as { -readonly [K in keyof EngineState]: EngineState[K] };
  target.streams.clear();
  for (const [name, stream] of source.streams) target.streams.set(name, stream);
  into.nextPosition = source.nextPosition;
  into.ids = source.ids;
  into.keys = source.keys;
  into.claims = source.claims;
  into.lifecycles = source.lifecycles;
}
