import { readUuid, writeUuid } from '../types/uuid.js';
import { RetryKeys } from './retry-keys.js';
import { IdWindow, type IdEntry, type IdWindowLimits } from './id-window.js';
import type { EngineState } from './state.js';
import { ClaimTable, type HeldClaim } from './claims.js';
import { countAt, type StreamState } from './stream-state.js';
import { GONE_FOR_GOOD, Lifecycles, type Lifecycle } from './lifecycle.js';
import { validateStreamMetadata } from '../types/stream-metadata.js';

/**
 * The engine's state as bytes, so a reopen loads it and replays only the events after it
 * instead of the whole log. Layout (docs/format.md): u8 version | 7 reserved |
 * f64 nextPosition | u32 streams | per stream: u16 name bytes, name, f64 count, f64 first
 * index kept (version 5), (count - first) × f64 positions | u32 ids | per id: 16-byte uuid, u16 stream bytes, stream, f64 index,
 * f64 position, f64 timestamp | u32 claims | per held claim (version 2): u16 set bytes, set,
 * u16 value bytes, value, u16 stream bytes, stream, f64 position | u32 retry keys | per key
 * (version 3): the same fields as an id | u32 lifecycles | per stream with one (version 4):
 * u16 name bytes, name, f64 position, u8 flags (1 tombstoned, 2 erased), f64 index below which
 * events are gone for good (version 6), u32 metadata bytes, metadata as UTF-8 JSON. Integers are stored as f64 (exact below 2^53),
 * little-endian. Version 1 (before claims) loads with no claims held, version 2 (before retry
 * keys) with no retry keys, version 3 (before stream metadata) with no lifecycles: the code
 * that wrote them kept none. Versions before 5 kept every position (first index 0); before 6
 * only a tombstone made events gone for good.
 * Integrity (CRC) and atomic replacement are the caller's job.
 */
export const CHECKPOINT_VERSION = 6;
/** From this version on, a lifecycle stores what is gone for good and whether it was erased. */
const CHECKPOINT_VERSION_WITH_GONE = 6;
/** From this version on, a stream stores the first index it keeps a position of. */
const CHECKPOINT_VERSION_WITH_FORGOTTEN = 5;
const CHECKPOINT_VERSION_WITHOUT_GONE = 5;
const CHECKPOINT_VERSION_WITHOUT_FORGOTTEN = 4;
const CHECKPOINT_VERSION_WITHOUT_LIFECYCLES = 3;
const CHECKPOINT_VERSION_WITHOUT_KEYS = 2;
const CHECKPOINT_VERSION_WITHOUT_CLAIMS = 1;
/** An id entry's bytes besides its stream name: uuid, u16 name length, f64 index, position, timestamp. */
const ID_ENTRY_FIXED_BYTES = 16 + 2 + 24;

/** Encodes the state as of `upTo` (inclusive): later, uncommitted events are left out. */
export function encodeCheckpoint(state: EngineState, upTo: number = state.nextPosition - 1): Buffer {
  const names: Array<[Buffer, StreamState]> = [];
  let size = 8 + 8 + 4;
  for (const [name, stream] of state.streams) {
    const count = countAt(stream, upTo);
    if (count === 0) continue;
    const nameBytes = Buffer.from(name, 'utf8');
    const first = Math.min(stream.first, count);
    names.push([nameBytes, { count, first, positions: stream.positions }]);
    size += 2 + nameBytes.length + 8 + 8 + (count - first) * 8;
  }
  const ids = state.ids.entries().filter((entry) => entry.position <= upTo);
  size += idEntriesBytes(ids) + retryKeysBytes(state.keys, upTo);
  const lifecycles = encodeLifecycles(state.lifecycles, upTo);
  size += lifecycles.length;
  const claims = state.claims.heldAt(upTo).map((claim) => ({
    set: Buffer.from(claim.set, 'utf8'),
    value: Buffer.from(claim.value, 'utf8'),
    stream: Buffer.from(claim.stream, 'utf8'),
    position: claim.position,
  }));
  size += 4;
  for (const claim of claims) size += 2 + claim.set.length + 2 + claim.value.length + 2 + claim.stream.length + 8;
  const out = Buffer.alloc(size);
  out[0] = CHECKPOINT_VERSION;
  let at = 8;
  out.writeDoubleLE(Math.min(state.nextPosition, upTo + 1), at);
  at += 8;
  out.writeUInt32LE(names.length, at);
  at += 4;
  for (const [nameBytes, stream] of names) {
    out.writeUInt16LE(nameBytes.length, at);
    at += 2;
    nameBytes.copy(out, at);
    at += nameBytes.length;
    out.writeDoubleLE(stream.count, at);
    out.writeDoubleLE(stream.first, at + 8);
    at += 16;
    const kept = (stream.count - stream.first) * 8;
    const positions = new Uint8Array(stream.positions.buffer, stream.positions.byteOffset, kept);
    out.set(positions, at);
    at += positions.length;
  }
  at = writeIdEntries(ids, out, at);
  out.writeUInt32LE(claims.length, at);
  at += 4;
  for (const claim of claims) {
    for (const text of [claim.set, claim.value, claim.stream]) {
      out.writeUInt16LE(text.length, at);
      text.copy(out, at + 2);
      at += 2 + text.length;
    }
    out.writeDoubleLE(claim.position, at);
    at += 8;
  }
  at = writeRetryKeys(state.keys, upTo, out, at);
  lifecycles.copy(out, at);
  return out;
}

/**
 * u32 count | per stream: u16 name bytes, name, f64 position, u8 flags (1 tombstoned, 2 erased),
 * f64 goneBefore (version 6), u32 JSON bytes, JSON.
 */
function encodeLifecycles(lifecycles: Lifecycles, upTo: number): Buffer {
  const entries = lifecycles.entriesAt(upTo).map(([stream, version]) => ({
    name: Buffer.from(stream, 'utf8'),
    json: Buffer.from(JSON.stringify(version.metadata), 'utf8'),
    version,
  }));
  let size = 4;
  for (const entry of entries) size += 2 + entry.name.length + 8 + 1 + 8 + 4 + entry.json.length;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(entries.length, 0);
  let at = 4;
  for (const { name, json, version } of entries) {
    out.writeUInt16LE(name.length, at);
    at += 2 + name.copy(out, at + 2);
    out.writeDoubleLE(version.position, at);
    out[at + 8] = (version.tombstoned ? LIFECYCLE_TOMBSTONED : 0) | (version.erased ? LIFECYCLE_ERASED : 0);
    out.writeDoubleLE(version.goneBefore, at + 9);
    out.writeUInt32LE(json.length, at + 17);
    at += 21 + json.copy(out, at + 21);
  }
  return out;
}

const LIFECYCLE_TOMBSTONED = 1;
const LIFECYCLE_ERASED = 2;

function decodeLifecycles(bytes: Buffer, start: number, into: Lifecycles, version: number): number {
  let at = start;
  const count = bytes.readUInt32LE(at);
  at += 4;
  const entries: Array<[string, Lifecycle]> = [];
  for (let i = 0; i < count; i++) {
    const nameLength = bytes.readUInt16LE(at);
    const stream = bytes.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const position = bytes.readDoubleLE(at);
    const flags = bytes[at + 8]!;
    const tombstoned = (flags & LIFECYCLE_TOMBSTONED) !== 0;
    at += 9;
    // Before version 6 a tombstone was the only thing gone for good.
    const goneBefore =
      version >= CHECKPOINT_VERSION_WITH_GONE ? bytes.readDoubleLE(at) : tombstoned ? GONE_FOR_GOOD : 0;
    if (version >= CHECKPOINT_VERSION_WITH_GONE) at += 8;
    const jsonLength = bytes.readUInt32LE(at);
    at += 4;
    if (at + jsonLength > bytes.length) throw new Error('checkpoint truncated in its lifecycles');
    const metadata = validateStreamMetadata(JSON.parse(bytes.toString('utf8', at, at + jsonLength)));
    at += jsonLength;
    entries.push([stream, { position, metadata, tombstoned, goneBefore, erased: (flags & LIFECYCLE_ERASED) !== 0 }]);
  }
  into.load(entries);
  return at;
}

function retryKeysBytes(keys: RetryKeys, upTo: number): number {
  let size = 4;
  keys.forEachUpTo(upTo, (_id, stream) => {
    size += ID_ENTRY_FIXED_BYTES + Buffer.byteLength(stream, 'utf8');
  });
  return size;
}

/** The retry keys in the id entries' layout, straight from the ring. */
function writeRetryKeys(keys: RetryKeys, upTo: number, out: Buffer, start: number): number {
  let at = start + 4;
  let count = 0;
  keys.forEachUpTo(upTo, (id, stream, index, position, timestamp) => {
    at = writeIdEntry(out, at, id, stream, index, position, timestamp);
    count++;
  });
  out.writeUInt32LE(count, start);
  return at;
}

function idEntriesBytes(entries: readonly IdEntry[]): number {
  let size = 4;
  for (const entry of entries) size += ID_ENTRY_FIXED_BYTES + Buffer.byteLength(entry.stream, 'utf8');
  return size;
}

/** u32 count | per entry: uuid, u16 stream length, stream, f64 index, position, timestamp. */
function writeIdEntries(entries: readonly IdEntry[], out: Buffer, start: number): number {
  let at = start;
  out.writeUInt32LE(entries.length, at);
  at += 4;
  for (const entry of entries)
    at = writeIdEntry(out, at, entry.id, entry.stream, entry.index, entry.position, entry.timestamp);
  return at;
}

function writeIdEntry(
  out: Buffer,
  start: number,
  id: string,
  stream: string,
  index: number,
  position: number,
  timestamp: number,
): number {
  let at = start;
  writeUuid(id, out, at);
  at += 16;
  const length = out.write(stream, at + 2, 'utf8');
  out.writeUInt16LE(length, at);
  at += 2 + length;
  out.writeDoubleLE(index, at);
  out.writeDoubleLE(position, at + 8);
  out.writeDoubleLE(timestamp, at + 16);
  return at + 24;
}

/** Reads what `writeIdEntries` wrote, handing each entry to `add`; returns the offset after them. */
function readIdEntries(bytes: Buffer, start: number, add: (entry: IdEntry) => void): number {
  let at = start;
  const count = bytes.readUInt32LE(at);
  at += 4;
  for (let i = 0; i < count; i++) {
    const id = readUuid(bytes, at);
    at += 16;
    const streamLength = bytes.readUInt16LE(at);
    at += 2;
    if (at + streamLength + 24 > bytes.length) throw new Error('checkpoint truncated in its ids');
    const stream = bytes.toString('utf8', at, at + streamLength);
    at += streamLength;
    add({
      id,
      stream,
      index: bytes.readDoubleLE(at),
      position: bytes.readDoubleLE(at + 8),
      timestamp: bytes.readDoubleLE(at + 16),
    });
    at += 24;
  }
  return at;
}

/** Throws a plain Error on malformed bytes: the caller falls back to an older checkpoint or a full replay. */
export function decodeCheckpoint(bytes: Buffer, limits: IdWindowLimits): EngineState {
  const version = bytes[0];
  if (
    version !== CHECKPOINT_VERSION &&
    version !== CHECKPOINT_VERSION_WITHOUT_GONE &&
    version !== CHECKPOINT_VERSION_WITHOUT_FORGOTTEN &&
    version !== CHECKPOINT_VERSION_WITHOUT_LIFECYCLES &&
    version !== CHECKPOINT_VERSION_WITHOUT_KEYS &&
    version !== CHECKPOINT_VERSION_WITHOUT_CLAIMS
  ) {
    throw new Error(
      `checkpoint version ${version}, expected ${CHECKPOINT_VERSION_WITHOUT_CLAIMS} to ${CHECKPOINT_VERSION}`,
    );
  }
  let at = 8;
  const nextPosition = bytes.readDoubleLE(at);
  at += 8;
  const streamCount = bytes.readUInt32LE(at);
  at += 4;
  const streams = new Map<string, StreamState>();
  for (let s = 0; s < streamCount; s++) {
    const nameLength = bytes.readUInt16LE(at);
    at += 2;
    const name = bytes.toString('utf8', at, at + nameLength);
    at += nameLength;
    const count = bytes.readDoubleLE(at);
    at += 8;
    const first = version >= CHECKPOINT_VERSION_WITH_FORGOTTEN ? bytes.readDoubleLE(at) : 0;
    if (version >= CHECKPOINT_VERSION_WITH_FORGOTTEN) at += 8;
    const kept = count - first;
    if (kept < 0 || at + kept * 8 > bytes.length)
      throw new Error(`checkpoint truncated in stream ${JSON.stringify(name)}`);
    const positions = new Float64Array(Math.max(4, kept + (kept >>> 2)));
    new Uint8Array(positions.buffer).set(bytes.subarray(at, at + kept * 8));
    at += kept * 8;
    streams.set(name, { count, first, positions });
  }
  const ids = new IdWindow(limits);
  at = readIdEntries(bytes, at, (entry) => ids.add(entry));
  const claims = new ClaimTable();
  if (version !== CHECKPOINT_VERSION_WITHOUT_CLAIMS) {
    const held: HeldClaim[] = [];
    const count = bytes.readUInt32LE(at);
    at += 4;
    const text = (): string => {
      const length = bytes.readUInt16LE(at);
      if (at + 2 + length > bytes.length) throw new Error('checkpoint truncated in its claims');
      const value = bytes.toString('utf8', at + 2, at + 2 + length);
      at += 2 + length;
      return value;
    };
    for (let i = 0; i < count; i++) {
      const set = text();
      const value = text();
      const stream = text();
      held.push({ set, value, stream, position: bytes.readDoubleLE(at) });
      at += 8;
    }
    claims.load(held);
  }
  const keys = new RetryKeys();
  if (version >= CHECKPOINT_VERSION_WITHOUT_LIFECYCLES)
    at = readIdEntries(bytes, at, (entry) =>
      keys.add(entry.id, entry.stream, entry.index, entry.position, entry.timestamp),
    );
  const lifecycles = new Lifecycles();
  if (version >= CHECKPOINT_VERSION_WITHOUT_FORGOTTEN) at = decodeLifecycles(bytes, at, lifecycles, version);
  if (at !== bytes.length) throw new Error(`checkpoint has ${bytes.length - at} trailing bytes`);
  return { streams, nextPosition, ids, keys, claims, lifecycles };
}
