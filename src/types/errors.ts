/**
 * Every error Ordo raises is an `OrdoError` with a stable `code`. The same codes travel on the
 * wire (a later issue), so a remote client can rebuild the exact error class from a frame.
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
  | 'LOG_CLOSED'
  | 'CORRUPT_LOG'
  | 'STORAGE_FAILED'
  | 'LOG_LOCKED';

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
      `event id ${id} is already in the log at position ${existing.position} (stream ${JSON.stringify(existing.stream)}, index ${existing.index}), ` +
        'and this append is not a retry of the one that wrote it',
    );
    this.id = id;
    this.existing = existing;
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
  constructor(file: string, offset: number, reason: string) {
    super('CORRUPT_LOG', `corrupt log file ${file} at byte offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
  }
}

/** A write or fsync failed: the log stops accepting writes (a failed fsync cannot be retried). */
export class StorageFailedError extends OrdoError {
  constructor(message: string, cause?: unknown) {
    super('STORAGE_FAILED', message, { cause });
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

/** The expected literal of an append (see the brief's vocabulary). */
export type Expected = 'any' | 'empty' | 'exists' | number;

export function describeExpected(expected: Expected): string {
  return typeof expected === 'number' ? `count ${expected}` : `'${expected}'`;
}

/** A short, safe rendering of a value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}… (${value.length} chars)` : JSON.stringify(value);
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
