import type { ConfigState, Entry, EntryKind, Message, MessageType, NodeId, Snapshot } from '../raft/types.js';
import { EMPTY_ENTRIES, isLocalMessage } from '../raft/types.js';
import { ProtocolError, describe } from '../types/errors.js';
import { MAX_SAFE_HIGH, TWO_POW_32 } from '../types/u64.js';
import { ByteReader, ByteWriter } from './bytes.js';

/**
 * The binary codec for Raft messages between cluster nodes (docs/protocol.md, "Raft messages
 * between nodes"). It only carries bytes: it knows nothing of the transport that frames them,
 * and entry and snapshot data stay opaque (never parsed here).
 *
 * Decoded entry and snapshot `data` are views into the input bytes (no copy): the input must
 * not be overwritten while the message, or anything raft or storage kept from it, is in use.
 */
export const RAFT_CODEC_VERSION = 1;

/** The local types are steps a node gives itself; they never leave the process. */
type LocalMessageType = 'hup' | 'beat' | 'check-quorum' | 'propose' | 'unreachable' | 'snapshot-status';
export type NetworkMessageType = Exclude<MessageType, LocalMessageType>;

/** Fixed wire codes: a new network type must get a new code here (the Record makes tsc insist). */
const TYPE_CODES: Readonly<Record<NetworkMessageType, number>> = {
  append: 1,
  'append-response': 2,
  vote: 3,
  'vote-response': 4,
  'pre-vote': 5,
  'pre-vote-response': 6,
  snapshot: 7,
  heartbeat: 8,
  'heartbeat-response': 9,
  'transfer-leader': 10,
  'timeout-now': 11,
  'read-index': 12,
  'read-index-response': 13,
};
const TYPE_BY_CODE = new Map<number, NetworkMessageType>(
  Object.entries(TYPE_CODES).map(([type, code]) => [code, type as NetworkMessageType]),
);

const FLAG_REJECT = 1 << 0;
const FLAG_TRANSFER = 1 << 1;
const FLAG_SNAPSHOT = 1 << 2;
const KNOWN_FLAGS = FLAG_REJECT | FLAG_TRANSFER | FLAG_SNAPSHOT;

const KIND_NORMAL = 0;
const KIND_CONFIG = 1;

const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/** version, type, flags, two empty str16, six u64, u32 entry count. */
const MIN_MESSAGE_BYTES = 3 + 2 + 2 + 6 * 8 + 4;
/** term, index, kind, data length. */
const MIN_ENTRY_BYTES = 8 + 8 + 1 + 4;
const LENGTH_BYTES = 4;

/** Lone surrogates would be written as U+FFFD and come back as a different id: refuse them. */
const LONE_SURROGATE = /\p{Cs}/u;

// ---- encoding ----

/** Encodes one message sent between nodes; local types and unrepresentable values are a `ProtocolError`. */
export function encodeRaftMessage(m: Message): Uint8Array {
  const writer = new ByteWriter(maxEncodedBytes(m));
  writeMessage(writer, m);
  return written(writer);
}

/** All messages of one Ready for one peer, in one frame: `u32 count`, then `u32 length` + message each. */
export function encodeRaftMessages(ms: readonly Message[]): Uint8Array {
  let size = LENGTH_BYTES;
  for (const m of ms) size += LENGTH_BYTES + maxEncodedBytes(m);
  const writer = new ByteWriter(size);
  writer.u32(checkedCount(ms.length, U32_MAX, 'message count'));
  for (const m of ms) {
    const start = writer.offset;
    writer.u32(0);
    writeMessage(writer, m);
    const length = writer.offset - start - LENGTH_BYTES;
    if (length > U32_MAX)
      throw new ProtocolError(`cannot encode raft message ${m.type}: ${length} bytes do not fit a u32 length`);
    writer.setU32(start, length);
  }
  return written(writer);
}

/** The writer was sized up front, so its buffer is the result (`take()` would allocate another). */
function written(writer: ByteWriter): Uint8Array {
  return writer.bytes.subarray(0, writer.length);
}

/** An upper bound (strings at 3 bytes per UTF-16 unit, as `ByteWriter.str16` reserves), so the writer never grows. */
function maxEncodedBytes(m: Message): number {
  let size = MIN_MESSAGE_BYTES + 3 * (m.from.length + m.to.length);
  for (const entry of m.entries) size += MIN_ENTRY_BYTES + entry.data.byteLength;
  const snapshot = m.snapshot;
  if (snapshot !== undefined) {
    size += 8 + 8 + 2 + 2 + LENGTH_BYTES + snapshot.data.byteLength;
    for (const id of [...snapshot.config.voters, ...snapshot.config.learners]) size += 2 + 3 * id.length;
  }
  return size;
}

function writeMessage(w: ByteWriter, m: Message): void {
  const code = typeCode(m.type);
  const hasSnapshot = m.snapshot !== undefined;
  // raft reads `m.snapshot!` on a snapshot message: never let one through without it, nor a stray one elsewhere.
  if (hasSnapshot !== (m.type === 'snapshot')) {
    throw new ProtocolError(
      `cannot encode raft message ${m.type}:` +
        ` ${hasSnapshot ? 'only a snapshot message carries a snapshot' : 'it has no snapshot'}`,
    );
  }
  w.u8(RAFT_CODEC_VERSION);
  w.u8(code);
  w.u8((m.reject ? FLAG_REJECT : 0) | (m.transfer ? FLAG_TRANSFER : 0) | (hasSnapshot ? FLAG_SNAPSHOT : 0));
  writeId(w, m.from, m.type, 'from');
  writeId(w, m.to, m.type, 'to');
  writeU64(w, m.term, m.type, 'term');
  writeU64(w, m.logTerm, m.type, 'logTerm');
  writeU64(w, m.index, m.type, 'index');
  writeU64(w, m.commit, m.type, 'commit');
  writeU64(w, m.rejectHint, m.type, 'rejectHint');
  writeU64(w, m.context, m.type, 'context');
  w.u32(checkedCount(m.entries.length, U32_MAX, `${m.type} entry count`));
  m.entries.forEach((entry, i) => writeEntry(w, entry, m.type, i));
  if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot, m.type);
}

function typeCode(type: MessageType): number {
  if (isLocalMessage(type))
    throw new ProtocolError(`cannot encode raft message ${type}: it is a local message, never sent between nodes`);
  const code = (TYPE_CODES as Partial<Record<MessageType, number>>)[type];
  if (code === undefined) throw new ProtocolError(`cannot encode raft message ${describe(type)}: unknown message type`);
  return code;
}

function writeEntry(w: ByteWriter, entry: Entry, type: MessageType, i: number): void {
  writeU64(w, entry.term, type, `entry ${i} term`);
  writeU64(w, entry.index, type, `entry ${i} index`);
  w.u8(kindCode(entry.kind, type, i));
  writeData(w, entry.data, type, `entry ${i} data`);
}

function kindCode(kind: EntryKind, type: MessageType, i: number): number {
  if (kind === 'normal') return KIND_NORMAL;
  if (kind === 'config') return KIND_CONFIG;
  throw new ProtocolError(
    `cannot encode raft message ${type}: entry ${i} kind ${describe(kind)} is neither 'normal' nor 'config'`,
  );
}

function writeSnapshot(w: ByteWriter, snapshot: Snapshot, type: MessageType): void {
  writeU64(w, snapshot.index, type, 'snapshot index');
  writeU64(w, snapshot.term, type, 'snapshot term');
  writeIds(w, snapshot.config.voters, type, 'snapshot voter');
  writeIds(w, snapshot.config.learners, type, 'snapshot learner');
  writeData(w, snapshot.data, type, 'snapshot data');
}

function writeIds(w: ByteWriter, ids: readonly NodeId[], type: MessageType, what: string): void {
  w.u16(checkedCount(ids.length, U16_MAX, `${type} ${what} count`));
  ids.forEach((id, i) => writeId(w, id, type, `${what} ${i}`));
}

function writeId(w: ByteWriter, id: NodeId, type: MessageType, what: string): void {
  if (typeof id !== 'string' || LONE_SURROGATE.test(id))
    throw new ProtocolError(`cannot encode raft message ${type}: ${what} ${describe(id)} is not well-formed text`);
  w.str16(id); // throws a ProtocolError past 65535 bytes
}

function writeData(w: ByteWriter, data: Uint8Array, type: MessageType, what: string): void {
  w.u32(checkedCount(data.byteLength, U32_MAX, `${type} ${what} length`));
  w.raw(data);
}

/** DataView would silently wrap a negative, fractional or too large value: refuse it instead. */
function writeU64(w: ByteWriter, value: number, type: MessageType, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ProtocolError(
      `cannot encode raft message ${type}: ${what} ${describe(value)} is not an integer in [0, 2^53)`,
    );
  }
  w.u64(value);
}

function checkedCount(count: number, max: number, what: string): number {
  if (count > max) throw new ProtocolError(`cannot encode ${what} ${count}: above the maximum of ${max}`);
  return count;
}

// ---- decoding ----

/** Decodes one message; anything malformed, including trailing bytes, is a `ProtocolError`. */
export function decodeRaftMessage(bytes: Uint8Array): Message {
  const reader = new ByteReader(plainView(bytes));
  const m = readMessage(reader);
  reader.expectEnd(`raft message ${m.type}`);
  return m;
}

/** Decodes what `encodeRaftMessages` wrote. */
export function decodeRaftMessages(bytes: Uint8Array): Message[] {
  const view = plainView(bytes);
  const reader = new ByteReader(view);
  const count = reader.u32('raft message count');
  // A hostile count must not make us loop or allocate: each message takes at least this much.
  checkRoom(reader, count, LENGTH_BYTES + MIN_MESSAGE_BYTES, 'raft message count');
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.u32(`raft message ${i} length`);
    reader.need(length, `raft message ${i}`);
    const one = new ByteReader(view, reader.offset, reader.offset + length);
    const m = readMessage(one);
    one.expectEnd(`raft message ${i} (${m.type})`);
    messages.push(m);
    reader.offset += length;
  }
  reader.expectEnd('raft message batch');
  return messages;
}

/**
 * A plain Uint8Array over the same memory: a Node Buffer's `subarray` would hand out Buffers,
 * which compare and print differently from the Uint8Array the Message type promises.
 */
function plainView(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readMessage(r: ByteReader): Message {
  const version = r.u8('raft codec version');
  if (version !== RAFT_CODEC_VERSION)
    throw new ProtocolError(`raft message: unknown codec version ${version} (expected ${RAFT_CODEC_VERSION})`);
  const code = r.u8('raft message type');
  const type = TYPE_BY_CODE.get(code);
  if (type === undefined) throw new ProtocolError(`raft message: unknown type code ${code}`);
  const flags = r.u8(`raft message ${type} flags`);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new ProtocolError(
      `raft message ${type}: flags 0x${hex(flags)} have unknown bits 0x${hex(flags & ~KNOWN_FLAGS)}`,
    );
  const hasSnapshot = (flags & FLAG_SNAPSHOT) !== 0;
  if (hasSnapshot !== (type === 'snapshot')) {
    throw new ProtocolError(
      `raft message ${type}: snapshot flag is ${hasSnapshot ? 'set' : 'clear'},` +
        ` it must be set exactly on snapshot messages`,
    );
  }
  const from = r.str16(`raft message ${type} from`);
  const to = r.str16(`raft message ${type} to`);
  const term = readU64(r, `raft message ${type} term`);
  const logTerm = readU64(r, `raft message ${type} logTerm`);
  const index = readU64(r, `raft message ${type} index`);
  const commit = readU64(r, `raft message ${type} commit`);
  const rejectHint = readU64(r, `raft message ${type} rejectHint`);
  const context = readU64(r, `raft message ${type} context`);
  const entries = readEntries(r, type);
  const m: Message = {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & FLAG_REJECT) !== 0,
    rejectHint,
    context,
    transfer: (flags & FLAG_TRANSFER) !== 0,
  };
  if (hasSnapshot) m.snapshot = readSnapshot(r, type);
  return m;
}

function readEntries(r: ByteReader, type: NetworkMessageType): readonly Entry[] {
  const count = r.u32(`raft message ${type} entry count`);
  if (count === 0) return EMPTY_ENTRIES; // heartbeats and responses: no allocation
  checkRoom(r, count, MIN_ENTRY_BYTES, `raft message ${type} entry count`);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const what = `raft message ${type} entry ${i}`;
    const term = readU64(r, `${what} term`);
    const index = readU64(r, `${what} index`);
    const kind = readKind(r, what);
    const data = readData(r, `${what} data`);
    entries.push({ term, index, kind, data });
  }
  return entries;
}

function readKind(r: ByteReader, what: string): EntryKind {
  const code = r.u8(`${what} kind`);
  if (code === KIND_NORMAL) return 'normal';
  if (code === KIND_CONFIG) return 'config';
  throw new ProtocolError(`${what}: unknown kind code ${code} (0 normal, 1 config)`);
}

function readSnapshot(r: ByteReader, type: NetworkMessageType): Snapshot {
  const what = `raft message ${type} snapshot`;
  const index = readU64(r, `${what} index`);
  const term = readU64(r, `${what} term`);
  const config: ConfigState = { voters: readIds(r, `${what} voter`), learners: readIds(r, `${what} learner`) };
  const data = readData(r, `${what} data`);
  return { index, term, config, data };
}

function readIds(r: ByteReader, what: string): NodeId[] {
  const count = r.u16(`${what} count`);
  checkRoom(r, count, 2, `${what} count`);
  const ids: NodeId[] = [];
  for (let i = 0; i < count; i++) ids.push(r.str16(`${what} ${i}`));
  return ids;
}

/** `u32 length` + bytes, returned as a view of the input (zero copy). */
function readData(r: ByteReader, what: string): Uint8Array {
  const length = r.u32(`${what} length`);
  return r.bytesView(length, what);
}

/** Like `ByteReader.u64`, but the error names the value that was too large. */
function readU64(r: ByteReader, what: string): number {
  r.need(8, what);
  const high = r.view.getUint32(r.offset + 4, true);
  if (high > MAX_SAFE_HIGH) {
    const low = r.view.getUint32(r.offset, true);
    throw new ProtocolError(
      `${what} ${BigInt(high) * BigInt(TWO_POW_32) + BigInt(low)} at offset ${r.offset} is not below 2^53`,
    );
  }
  return r.u64(what);
}

/** Refuses a count whose smallest possible encoding is already longer than what is left. */
function checkRoom(r: ByteReader, count: number, minBytesEach: number, what: string): void {
  if (count * minBytesEach > r.remaining) {
    throw new ProtocolError(
      `${what} ${count} needs at least ${count * minBytesEach} bytes at offset ${r.offset}, only ${r.remaining} left`,
    );
  }
}

function hex(value: number): string {
  return value.toString(16).padStart(2, '0');
}
