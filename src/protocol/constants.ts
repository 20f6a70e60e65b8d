/**
 * Ordo's wire protocol, version 1 (docs/protocol.md). Every message on TCP or WebSocket is a
 * frame:
 *
 *   u32 length (of everything after this field) | u8 type | u8 flags | u16 reserved (0)
 *   | u32 requestId | payload
 *
 * Integers are little-endian, like the log's files; 64-bit integers are two u32 halves, low
 * first, and stay below 2^53. A request and every frame answering it carry the same request id,
 * so many requests can be in flight on one connection and be answered out of order.
 */
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 12;
/** Bytes of the length field itself, which `length` does not count. */
export const FRAME_LENGTH_BYTES = 4;
/** Frames larger than this are a protocol error (the sender is cut off); a server may lower it. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

export const FrameType = {
  // client → server
  HELLO: 0x01,
  APPEND: 0x10,
  APPEND_MANY: 0x11,
  EXISTS_OR_WRITE: 0x12,
  PUBLISH_TRANSIENT: 0x13,
  SET_METADATA: 0x14,
  DELETE_STREAM: 0x15,
  ERASE_STREAM: 0x16,
  READ: 0x20,
  READ_ALL: 0x21,
  SUBSCRIBE: 0x22,
  READ_AND_SUBSCRIBE: 0x23,
  CREDIT: 0x24,
  UNSUBSCRIBE: 0x25,
  COUNT: 0x30,
  HEAD: 0x31,
  STREAMS: 0x32,
  GET_METADATA: 0x33,
  PING: 0x3f,
  // node → node (a peer connection: HELLO with client name `peer:<node id>`, then only these)
  RAFT: 0x50,
  /** A follower pulls a chunk of a snapshot; the answer travels on the other node's connection. */
  SNAPSHOT_READ: 0x51,
  SNAPSHOT_DATA: 0x52,
  // server → client
  WELCOME: 0x02,
  APPEND_OK: 0x40,
  APPEND_MANY_OK: 0x41,
  OK: 0x42,
  EVENTS: 0x43,
  TRANSIENT: 0x44,
  SUBSCRIPTION_END: 0x45,
  COUNT_OK: 0x46,
  HEAD_OK: 0x47,
  STREAMS_OK: 0x48,
  CUT: 0x49,
  PONG: 0x4a,
  STREAM_METADATA: 0x4b,
  ERROR: 0x7f,
} as const;

export type FrameTypeName = keyof typeof FrameType;

const NAMES = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([name, type]) => [type, name as FrameTypeName]),
);

export function frameTypeName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** EVENTS frame flags. */
export const EVENTS_DONE = 1; // a read: no events after this page
export const EVENTS_HISTORY = 2; // readAndSubscribe: history before the cut

/** READ frame flags. */
export const READ_BACKWARDS = 1;
export const READ_HAS_FROM = 2;
/** READ, READ_ALL and GET_METADATA flag: `consistency: 'local'` (absent: linearizable, see ReadConsistency). */
export const READ_LOCAL = 4;
/** READ and READ_ALL flag: a `u64 minPosition` follows the request's fields. */
export const READ_HAS_MIN_POSITION = 8;
/** READ_ALL from the first position retention kept (the `from` field is then 0 and ignored). */
export const READ_ALL_FROM_START = 16;
/** SUBSCRIBE flag: a u64 minPosition follows the filter. */
export const SUBSCRIBE_HAS_MIN_POSITION = 8;

/** SUBSCRIBE `from` kinds. */
export const FROM_START = 0;
export const FROM_END = 1;
export const FROM_POSITION = 2;

/** Append `expected` kinds. */
export const EXPECTED_ANY = 0;
export const EXPECTED_EMPTY = 1;
export const EXPECTED_EXISTS = 2;
export const EXPECTED_COUNT = 3;

/** Ack modes. */
export const ACK_NONE = 0;
export const ACK_LEADER = 1;
export const ACK_QUORUM = 2;

/**
 * APPEND, APPEND_MANY, EXISTS_OR_WRITE, SET_METADATA, DELETE_STREAM flag: the client sends this
 * request again, after losing the connection it first went out on. Only then does the server
 * look up its retry keys.
 */
export const REQUEST_RESENT = 1;
/**
 * APPEND, APPEND_MANY flag: claim changes follow each part's records, as u16 length | bytes
 * (the log's own encoding, types/claims.ts; length 0 for a part without).
 */
export const APPEND_HAS_CLAIMS = 2;

/** DELETE_STREAM flag: delete for good (a tombstone); absent: a soft delete. */
export const DELETE_TOMBSTONE = 2;

/** STREAM_METADATA flags: every event so far is hidden (soft-deleted); the stream is tombstoned. */
export const METADATA_DELETED = 1;
export const METADATA_TOMBSTONED = 2;
/** STREAM_METADATA flag: the tombstone is an erasure (the events' bytes are removed). */
export const METADATA_ERASED = 4;

/** APPEND_OK flag: existsOrWrite wrote the event (absent: it was already there). */
export const APPEND_WRITTEN = 1;

/** Filter presence bits. */
export const FILTER_STREAMS = 1;
export const FILTER_PREFIXES = 2;
export const FILTER_TYPES = 4;

/** Record flags: the same bits as the log's records (docs/format.md). */
export const RECORD_DATA_JSON = 1;
/**
 * In an append: the client library made this id up (the writer gave none), so that a re-sent
 * request is recognized. The server remembers only the first such id of each stream part.
 */
export const RECORD_ID_GENERATED = 2;
