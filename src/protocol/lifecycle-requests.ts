import { InvalidMetadataError, ProtocolError, type Expected } from '../types/errors.js';
import type { ReadConsistency } from '../types/read-consistency.js';
import type { RandomIds } from '../types/random-ids.js';
import { MAX_METADATA_BYTES, validateStreamMetadata, type StreamMetadata } from '../types/stream-metadata.js';
import { readUuid } from '../types/uuid.js';
import { validateStream } from '../types/validate.js';
import { decodeUtf8, type ByteWriter } from './bytes.js';
import { DELETE_TOMBSTONE, FrameType, READ_LOCAL, REQUEST_RESENT, frameTypeName } from './constants.js';
import { readExpected, writeExpected } from './expected.js';
import { beginFrame, endFrame, type Frame } from './frame.js';

/**
 * Streams' lifecycles on the wire (docs/protocol.md): SET_METADATA and DELETE_STREAM are
 * writes (one event of the metadata stream, answered by APPEND_OK), GET_METADATA a read
 * (answered by STREAM_METADATA). A write carries a client-made retry key, the id its event is
 * stored with, so a re-send after a lost answer is recognized like an append's.
 */
export type LifecycleRequest =
  | {
      op: 'setStreamMetadata';
      stream: string;
      expected: Expected;
      metadata: StreamMetadata;
      retryKey: string;
      resent: boolean;
    }
  | { op: 'deleteStream'; stream: string; expected: Expected; tombstone: boolean; retryKey: string; resent: boolean }
  | { op: 'erase'; stream: string; expected: Expected; retryKey: string; resent: boolean }
  | { op: 'getStreamMetadata'; stream: string; consistency: ReadConsistency };

const RETRY_KEY_BYTES = 16;

// ---- client side: encoding ----

/** SET_METADATA: `expected` (of the metadata stream), `str16 stream`, 16-byte retry key, `str32` metadata JSON. */
export function writeSetMetadata(
  w: ByteWriter,
  requestId: number,
  stream: string,
  metadata: StreamMetadata,
  expected: Expected,
  ids: RandomIds,
): void {
  const start = beginFrame(w, FrameType.SET_METADATA, 0, requestId);
  writeExpected(w, expected);
  w.str16(stream);
  writeRetryKey(w, ids);
  w.str32(JSON.stringify(metadata));
  endFrame(w, start);
}

/** DELETE_STREAM (flag 2: tombstone): `expected` (of the stream itself), `str16 stream`, 16-byte retry key. */
export function writeDeleteStream(
  w: ByteWriter,
  requestId: number,
  stream: string,
  expected: Expected,
  tombstone: boolean,
  ids: RandomIds,
): void {
  const start = beginFrame(w, FrameType.DELETE_STREAM, tombstone ? DELETE_TOMBSTONE : 0, requestId);
  writeExpected(w, expected);
  w.str16(stream);
  writeRetryKey(w, ids);
  endFrame(w, start);
}

/** ERASE_STREAM: the same payload as DELETE_STREAM (an erasure is a tombstone that also removes the bytes). */
export function writeEraseStream(
  w: ByteWriter,
  requestId: number,
  stream: string,
  expected: Expected,
  ids: RandomIds,
): void {
  const start = beginFrame(w, FrameType.ERASE_STREAM, 0, requestId);
  writeExpected(w, expected);
  w.str16(stream);
  writeRetryKey(w, ids);
  endFrame(w, start);
}

/** GET_METADATA (flag 4: local consistency): `str16 stream`. */
export function writeGetMetadata(w: ByteWriter, requestId: number, stream: string, consistency: ReadConsistency): void {
  const start = beginFrame(w, FrameType.GET_METADATA, consistency === 'local' ? READ_LOCAL : 0, requestId);
  w.str16(stream);
  endFrame(w, start);
}

/** A random UUID v4, made once when the request is encoded: a re-send carries the same bytes. */
function writeRetryKey(w: ByteWriter, ids: RandomIds): void {
  w.ensure(RETRY_KEY_BYTES);
  ids.write(w.bytes, w.offset);
  w.offset += RETRY_KEY_BYTES;
}

// ---- server side: decoding ----

/**
 * Reads a lifecycle request, or returns undefined for another frame type. The bytes are read
 * whole first (a frame that breaks the format is a `ProtocolError`), then the stream name and
 * the metadata get the embedded log's own checks and typed errors.
 */
export function readLifecycleRequest(frame: Frame): LifecycleRequest | undefined {
  switch (frame.type) {
    case FrameType.SET_METADATA:
      return readSetMetadata(frame);
    case FrameType.DELETE_STREAM:
      return readDeleteStream(frame);
    case FrameType.ERASE_STREAM:
      return readEraseStream(frame);
    case FrameType.GET_METADATA:
      return readGetMetadata(frame);
    default:
      return undefined;
  }
}

function readSetMetadata(frame: Frame): LifecycleRequest {
  checkFlags(frame, REQUEST_RESENT);
  const r = frame.payload;
  const expected = readExpected(r);
  const stream = r.str16('stream');
  const retryKey = readUuid(r.bytesView(RETRY_KEY_BYTES, 'retry key'), 0);
  const json = r.bytesView(r.u32('metadata length'), 'metadata');
  r.expectEnd(frameTypeName(frame.type));
  const name = validateStream(stream);
  const metadata = validateStreamMetadata(parseMetadataJson(json));
  return { op: 'setStreamMetadata', stream: name, expected, metadata, retryKey, resent: isResent(frame) };
}

function readDeleteStream(frame: Frame): LifecycleRequest {
  checkFlags(frame, REQUEST_RESENT | DELETE_TOMBSTONE);
  const r = frame.payload;
  const expected = readExpected(r);
  const stream = r.str16('stream');
  const retryKey = readUuid(r.bytesView(RETRY_KEY_BYTES, 'retry key'), 0);
  r.expectEnd(frameTypeName(frame.type));
  const tombstone = (frame.flags & DELETE_TOMBSTONE) !== 0;
  return { op: 'deleteStream', stream: validateStream(stream), expected, tombstone, retryKey, resent: isResent(frame) };
}

function readEraseStream(frame: Frame): LifecycleRequest {
  checkFlags(frame, REQUEST_RESENT);
  const r = frame.payload;
  const expected = readExpected(r);
  const stream = r.str16('stream');
  const retryKey = readUuid(r.bytesView(RETRY_KEY_BYTES, 'retry key'), 0);
  r.expectEnd(frameTypeName(frame.type));
  return { op: 'erase', stream: validateStream(stream), expected, retryKey, resent: isResent(frame) };
}

function readGetMetadata(frame: Frame): LifecycleRequest {
  checkFlags(frame, READ_LOCAL);
  const r = frame.payload;
  const stream = r.str16('stream');
  r.expectEnd(frameTypeName(frame.type));
  const consistency = (frame.flags & READ_LOCAL) !== 0 ? 'local' : 'linearizable';
  return { op: 'getStreamMetadata', stream: validateStream(stream), consistency };
}

function checkFlags(frame: Frame, known: number): void {
  if ((frame.flags & ~known) !== 0)
    throw new ProtocolError(`${frameTypeName(frame.type)}: unknown flags ${frame.flags}`);
}

function isResent(frame: Frame): boolean {
  return (frame.flags & REQUEST_RESENT) !== 0;
}

/** The metadata's bytes as JSON; what is not UTF-8 JSON within the size limit is refused like bad metadata. */
function parseMetadataJson(bytes: Uint8Array): unknown {
  if (bytes.byteLength > MAX_METADATA_BYTES)
    throw new InvalidMetadataError(
      '',
      `<${bytes.byteLength} bytes of JSON>`,
      `at most ${MAX_METADATA_BYTES} bytes of JSON`,
    );
  try {
    return JSON.parse(decodeUtf8(bytes, 0, bytes.byteLength, 'metadata'));
  } catch {
    throw new InvalidMetadataError('', `<${bytes.byteLength} bytes>`, 'a UTF-8 JSON object');
  }
}
