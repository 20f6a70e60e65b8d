/**
 * Every error Ordo raises is an `OrdoError` with a stable `code`. The same codes travel on the
 * wire (docs/protocol.md), so a remote client can rebuild the exact error class from a frame.
 * Messages name the offending value and what was expected.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_STREAM'
  | 'INVALID_EVENT'
  | 'EVENT_TOO_LARGE'
  | 'INVALID_EXPECTED'
  | 'WRONG_EXPECTED_COUNT'
  | 'ID_CONFLICT'
  | 'CLAIM_CONFLICT'
  | 'INVALID_METADATA'
  | 'STREAM_DELETED'
  | 'POSITION_TRIMMED'
  | 'CHECKPOINT_LOST'
  | 'LOG_CLOSED'
  | 'CORRUPT_LOG'
  | 'STORAGE_FAILED'
  | 'UNKNOWN_OUTCOME'
  | 'DISK_FULL'
  | 'LOG_LOCKED'
  | 'NOT_LEADER'
  // Remote only: the client, the server and the connection between them.
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'PROTOCOL_ERROR'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'LIMIT_EXCEEDED';

export const ERROR_CODES: readonly ErrorCode[] = [
  'INVALID_ARGUMENT',
  'INVALID_STREAM',
  'INVALID_EVENT',
  'EVENT_TOO_LARGE',
  'INVALID_EXPECTED',
  'WRONG_EXPECTED_COUNT',
  'ID_CONFLICT',
  'CLAIM_CONFLICT',
  'INVALID_METADATA',
  'STREAM_DELETED',
  'POSITION_TRIMMED',
  'CHECKPOINT_LOST',
  'LOG_CLOSED',
  'CORRUPT_LOG',
  'STORAGE_FAILED',
  'UNKNOWN_OUTCOME',
  'DISK_FULL',
  'LOG_LOCKED',
  'NOT_LEADER',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'PROTOCOL_ERROR',
  'UNAVAILABLE',
  'TIMEOUT',
  'ABORTED',
  'LIMIT_EXCEEDED',
];

export class OrdoError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A bad argument that is neither a stream name, an event nor an expected count. */
export class InvalidArgumentError extends OrdoError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class InvalidStreamError extends OrdoError {
  readonly stream: unknown;
  constructor(stream: unknown, reason: string) {
    super('INVALID_STREAM', `invalid stream name ${describe(stream)}: ${reason}`);
    this.stream = stream;
  }
}

export class InvalidEventError extends OrdoError {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, expected: string) {
    super('INVALID_EVENT', `invalid event${field ? ` ${field}` : ''} ${describe(value)}: expected ${expected}`);
    this.field = field;
    this.value = value;
  }
}

export class EventTooLargeError extends OrdoError {
  readonly size: number;
  readonly maxSize: number;
  constructor(size: number, maxSize: number) {
    super('EVENT_TOO_LARGE', `event of ${size} bytes exceeds the maximum of ${maxSize} bytes`);
    this.size = size;
    this.maxSize = maxSize;
  }
}

export class InvalidExpectedError extends OrdoError {
  readonly expected: unknown;
  constructor(expected: unknown) {
    super(
      'INVALID_EXPECTED',
      `invalid expected ${describe(expected)}: expected 'any', 'empty', 'exists' or an integer count >= 0`,
    );
    this.expected = expected;
  }
}

/** Stream metadata that is not valid: names the field, the value given and what was expected. */
export class InvalidMetadataError extends OrdoError {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, expected: string) {
    super('INVALID_METADATA', `invalid stream metadata ${field} ${describe(value)}: expected ${expected}`);
    this.field = field;
    this.value = value;
  }
}

/**
 * The stream was deleted for good (a tombstone): it refuses every later append and metadata
 * change. A stream deleted without a tombstone can be written again.
 */
export class StreamDeletedError extends OrdoError {
  readonly stream: string;
  constructor(stream: string, operation = 'append') {
    super('STREAM_DELETED', `${operation} refused: stream ${describe(stream)} is tombstoned (deleted for good)`);
    this.stream = stream;
  }
}

/**
 * A read or subscription asked for a position that retention removed from the log: nothing
 * before `firstPosition` is readable any more. Read from `firstPosition` (or from the start,
 * which is it) to go on; a consumer whose checkpoint is older has missed those events.
 */
export class PositionTrimmedError extends OrdoError {
  readonly position: number;
  readonly firstPosition: number;
  constructor(operation: string, position: number, firstPosition: number) {
    super(
      'POSITION_TRIMMED',
      `${operation} from position ${position}: retention removed the log before position ${firstPosition}` +
        ` (the first position still readable)`,
    );
    this.position = position;
    this.firstPosition = firstPosition;
  }
}

/**
 * A consumer's checkpoint stream holds checkpoints none of which is readable any more
 * (retention removed them, or metadata hides them): it cannot tell where to resume, and
 * starting from what is left would skip what went without anyone noticing.
 */
export class CheckpointLostError extends OrdoError {
  readonly stream: string;
  constructor(stream: string, message: string) {
    super('CHECKPOINT_LOST', message);
    this.stream = stream;
  }
}

/** The optimistic-concurrency check failed. Carries the stream's actual count. */
export class WrongExpectedCountError extends OrdoError {
  readonly stream: string;
  readonly expected: Expected;
  readonly actual: number;
  constructor(stream: string, expected: Expected, actual: number) {
    super(
      'WRONG_EXPECTED_COUNT',
      `stream ${JSON.stringify(stream)}: expected ${describeExpected(expected)} but its count is ${actual}`,
    );
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** An event id is already in the log, but not as part of this same append (ids are idempotency keys). */
export class IdConflictError extends OrdoError {
  readonly id: string;
  readonly existing: { stream: string; index: number; position: number };
  constructor(id: string, existing: { stream: string; index: number; position: number }) {
    super(
      'ID_CONFLICT',
      `event id ${id} is already in the log at position ${existing.position}` +
        ` (stream ${JSON.stringify(existing.stream)}, index ${existing.index}), ` +
        'and this append is not a retry of the one that wrote it',
    );
    this.id = id;
    this.existing = existing;
  }
}

/**
 * A uniqueness claim failed: `value` in `set` is held by another stream (`holder`), so this
 * append could not claim it (or release it: only its holder may). Nothing of the append was written.
 */
export class ClaimConflictError extends OrdoError {
  readonly set: string;
  readonly value: string;
  readonly operation: 'claim' | 'release';
  /**
   * The stream holding the value, and the position of the append
   * that claimed it (-1: an earlier part of this same appendMany).
   */
  readonly holder: { stream: string; position: number };
  constructor(
    set: string,
    value: string,
    operation: 'claim' | 'release',
    holder: { stream: string; position: number },
  ) {
    super(
      'CLAIM_CONFLICT',
      `${JSON.stringify(value)} in claim set ${JSON.stringify(set)}` +
        ` is held by stream ${JSON.stringify(holder.stream)} (` +
        (holder.position < 0 ? 'by an earlier part of this same append' : `claimed at position ${holder.position}`) +
        '): ' +
        (operation === 'claim' ? 'it cannot be claimed again until released' : 'only its holder may release it'),
    );
    this.set = set;
    this.value = value;
    this.operation = operation;
    this.holder = holder;
  }
}

export class LogClosedError extends OrdoError {
  constructor(operation: string) {
    super('LOG_CLOSED', `cannot ${operation}: the log is closed`);
  }
}

/** Acknowledged data failed its checksum: never silently dropped. */
export class CorruptLogError extends OrdoError {
  readonly file: string;
  readonly offset: number;
  /** What is wrong there (a checksum mismatch, an entry out of sequence, …). */
  readonly reason: string;
  constructor(file: string, offset: number, reason: string) {
    super('CORRUPT_LOG', `corrupt log file ${file} at byte offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * A write or fsync failed: the node stopped, and every operation after it fails with this
 * error (a failed fdatasync cannot be retried: see docs/operations.md, "When the disk fails").
 */
export class StorageFailedError extends OrdoError {
  constructor(message: string, cause?: unknown) {
    super('STORAGE_FAILED', message, { cause });
  }
}

/**
 * An append was accepted but the node stopped (its fdatasync failed) before it could tell
 * whether the append is durable: it may or may not be in the log. Treat it like a lost
 * acknowledgement: re-send the same request with the same event ids (to the restarted node or
 * the new leader), which is safe because the log recognises a re-send and answers it with the
 * original's result.
 */
export class UnknownOutcomeError extends OrdoError {
  constructor(message: string, cause?: unknown) {
    super('UNKNOWN_OUTCOME', message, { cause });
  }
}

/**
 * The disk holding the log is full (ENOSPC): this append was not written and never will be
 * (a definite failure: re-sending it later writes it once). Reads and subscriptions go on, and
 * writing resumes by itself once space is freed.
 */
export class DiskFullError extends OrdoError {
  constructor(message: string, cause?: unknown) {
    super('DISK_FULL', message, { cause });
  }
}

/**
 * This node is not the cluster's leader: writes (and linearizable reads) go to the leader.
 * `leader` is the node id it follows (undefined while an election runs); `leaderUrl` is the
 * leader's client address when the server knows it. Nothing was written: retrying there is safe.
 */
export class NotLeaderError extends OrdoError {
  readonly leader: string | undefined;
  readonly leaderUrl: string | undefined;
  constructor(operation: string, leader: string | undefined, leaderUrl?: string) {
    super(
      'NOT_LEADER',
      `${operation}: this node is not the leader (` +
        (leader === undefined
          ? 'no leader is known yet, an election is running'
          : `the leader is ${leader}${leaderUrl ? ` at ${leaderUrl}` : ''}`) +
        ')',
    );
    this.leader = leader;
    this.leaderUrl = leaderUrl;
  }
}

/** Another process holds the data directory. */
export class LogLockedError extends OrdoError {
  readonly dir: string;
  constructor(dir: string, holder: string) {
    super('LOG_LOCKED', `data directory ${dir} is in use by ${holder}`);
    this.dir = dir;
  }
}

/** No token, or a token the server does not know. */
export class UnauthenticatedError extends OrdoError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/** The token is known but lacks the scope the operation needs. */
export class PermissionDeniedError extends OrdoError {
  readonly operation: string;
  readonly scope: string;
  constructor(operation: string, scope: string, principal: string) {
    super(
      'PERMISSION_DENIED',
      `${operation} needs the '${scope}' scope, which token ${JSON.stringify(principal)} does not have`,
    );
    this.operation = operation;
    this.scope = scope;
  }
}

/** A frame that breaks the protocol: the connection that sent it is closed. */
export class ProtocolError extends OrdoError {
  constructor(message: string) {
    super('PROTOCOL_ERROR', message);
  }
}

/** The server cannot be reached (yet): the client keeps retrying until the deadline. */
export class UnavailableError extends OrdoError {
  constructor(message: string, cause?: unknown) {
    super('UNAVAILABLE', message, { cause });
  }
}

/** The deadline passed before an answer came. A write may still have happened: retry it with the same ids. */
export class TimeoutError extends OrdoError {
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super('TIMEOUT', `${operation} got no answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's AbortSignal fired. A write already sent may still happen. */
export class AbortedError extends OrdoError {
  constructor(operation: string) {
    super('ABORTED', `${operation} was aborted by its signal`);
  }
}

/** A per-connection limit (in-flight requests, subscriptions, frame size) was reached. */
export class LimitExceededError extends OrdoError {
  constructor(message: string) {
    super('LIMIT_EXCEEDED', message);
  }
}

/** The fields beyond code and message that an error carries on the wire, as JSON. */
export function errorDetails(error: OrdoError): Record<string, unknown> | undefined {
  if (error instanceof WrongExpectedCountError)
    return { stream: error.stream, expected: error.expected, actual: error.actual };
  if (error instanceof IdConflictError) return { id: error.id, existing: error.existing };
  if (error instanceof ClaimConflictError)
    return { set: error.set, value: error.value, operation: error.operation, holder: error.holder };
  if (error instanceof EventTooLargeError) return { size: error.size, maxSize: error.maxSize };
  if (error instanceof InvalidEventError) return { field: error.field };
  if (error instanceof InvalidStreamError) return { stream: error.stream };
  if (error instanceof InvalidExpectedError) return { expected: error.expected };
  if (error instanceof InvalidMetadataError) return { field: error.field, value: error.value };
  if (error instanceof StreamDeletedError) return { stream: error.stream };
  if (error instanceof PositionTrimmedError) return { position: error.position, firstPosition: error.firstPosition };
  if (error instanceof TimeoutError) return { timeoutMs: error.timeoutMs };
  if (error instanceof PermissionDeniedError) return { operation: error.operation, scope: error.scope };
  if (error instanceof NotLeaderError) return { leader: error.leader, leaderUrl: error.leaderUrl };
  if (error instanceof CorruptLogError) return { file: error.file, offset: error.offset, reason: error.reason };
  return undefined;
}

/**
 * Rebuilds, on the client, the error a server sent: the same class, code, message and fields as
 * the embedded log would have thrown, so `catch` blocks work unchanged after `open` → `connect`.
 */
export function errorFromWire(code: string, message: string, details: Record<string, unknown> | undefined): OrdoError {
  const MessageError = MESSAGE_ERRORS.get(code);
  const error = MessageError ? new MessageError(message) : errorWithFields(code, message, details ?? {});
  // The server's message is the one that names the actual values; keep it verbatim.
  Object.defineProperty(error, 'message', { value: message, writable: true, configurable: true });
  if (details)
    for (const [key, value] of Object.entries(details))
      if (!(key in error)) (error as unknown as Record<string, unknown>)[key] = value;
  return error;
}

/** The error classes that a server's message alone rebuilds. */
const MESSAGE_ERRORS = new Map<string, new (message: string) => OrdoError>([
  ['INVALID_ARGUMENT', InvalidArgumentError],
  ['STORAGE_FAILED', StorageFailedError],
  ['UNKNOWN_OUTCOME', UnknownOutcomeError],
  ['DISK_FULL', DiskFullError],
  ['UNAUTHENTICATED', UnauthenticatedError],
  ['PROTOCOL_ERROR', ProtocolError],
  ['UNAVAILABLE', UnavailableError],
  ['LIMIT_EXCEEDED', LimitExceededError],
]);

/** The error classes whose fields come from the details; an unknown code becomes a plain OrdoError. */
function errorWithFields(code: string, message: string, d: Record<string, unknown>): OrdoError {
  switch (code) {
    case 'WRONG_EXPECTED_COUNT':
      return new WrongExpectedCountError(String(d.stream), d.expected as Expected, Number(d.actual));
    case 'ID_CONFLICT':
      return new IdConflictError(String(d.id), d.existing as { stream: string; index: number; position: number });
    case 'CLAIM_CONFLICT':
      return new ClaimConflictError(
        String(d.set),
        String(d.value),
        d.operation === 'release' ? 'release' : 'claim',
        d.holder as { stream: string; position: number },
      );
    case 'EVENT_TOO_LARGE':
      return new EventTooLargeError(Number(d.size), Number(d.maxSize));
    case 'INVALID_STREAM':
      return new InvalidStreamError(d.stream, '');
    case 'INVALID_EVENT':
      return new InvalidEventError(String(d.field ?? ''), undefined, '');
    case 'INVALID_EXPECTED':
      return new InvalidExpectedError(d.expected);
    case 'INVALID_METADATA':
      return new InvalidMetadataError(String(d.field ?? ''), d.value, '');
    case 'STREAM_DELETED':
      return new StreamDeletedError(String(d.stream ?? ''));
    case 'POSITION_TRIMMED':
      return new PositionTrimmedError('', Number(d.position), Number(d.firstPosition));
    case 'LOG_CLOSED':
      return new LogClosedError('');
    case 'NOT_LEADER':
      return new NotLeaderError(
        '',
        d.leader === undefined ? undefined : String(d.leader),
        d.leaderUrl === undefined ? undefined : String(d.leaderUrl),
      );
    case 'PERMISSION_DENIED':
      return new PermissionDeniedError(String(d.operation), String(d.scope), '');
    case 'TIMEOUT':
      return new TimeoutError('', Number(d.timeoutMs));
    case 'ABORTED':
      return new AbortedError('');
    case 'CORRUPT_LOG':
      return new CorruptLogError(String(d.file ?? ''), Number(d.offset ?? -1), String(d.reason ?? ''));
    default:
      return new OrdoError(
        (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'PROTOCOL_ERROR',
        message,
      );
  }
}

/** The `expected` option of an append: a precondition on the stream's count. */
export type Expected = 'any' | 'empty' | 'exists' | number;

export function describeExpected(expected: Expected): string {
  return typeof expected === 'number' ? `count ${expected}` : `'${expected}'`;
}

/** A short, safe rendering of a value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= 80) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, 80))}… (${value.length} chars)`;
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || value === null || typeof value !== 'object') return String(value);
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
