import { AbortedError, InvalidArgumentError, describe, type Expected } from './errors.js';
import {
  validateStreamMetadata,
  type DeleteStreamOptions,
  type EraseStreamOptions,
  type StreamMetadata,
} from './stream-metadata.js';
import { validateExpected, validateStream } from './validate.js';

/**
 * The input checks of `setStreamMetadata` and `deleteStream`, in one order with one set of
 * errors, for the embedded log and the client alike (the client checks before sending).
 */

export interface CheckedMetadataChange {
  readonly stream: string;
  readonly metadata: StreamMetadata;
  readonly expected: Expected;
}

export interface CheckedDeletion {
  readonly stream: string;
  readonly expected: Expected;
  readonly tombstone: boolean;
}

export function checkMetadataChange(stream: unknown, metadata: unknown, options: unknown): CheckedMetadataChange {
  checkOptions('setStreamMetadata', options);
  const name = validateStream(stream);
  const checked = validateStreamMetadata(metadata);
  return { stream: name, metadata: checked, expected: validateExpected((options as { expected?: unknown }).expected) };
}

export function checkDeletion(stream: unknown, options: unknown): CheckedDeletion {
  checkOptions('deleteStream', options);
  const name = validateStream(stream);
  const { tombstone, expected } = options as DeleteStreamOptions;
  if (tombstone !== undefined && typeof tombstone !== 'boolean')
    throw new InvalidArgumentError(`invalid tombstone ${describe(tombstone)}: expected true or false`);
  return { stream: name, expected: validateExpected(expected), tombstone: tombstone === true };
}

/** Checks an erasure's arguments (a tombstone that also removes the bytes). */
export function checkErasure(stream: unknown, options: unknown): CheckedDeletion {
  checkOptions('erase', options);
  const name = validateStream(stream);
  return { stream: name, expected: validateExpected((options as EraseStreamOptions).expected), tombstone: true };
}

function checkOptions(operation: string, options: unknown): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`invalid ${operation} options ${describe(options)}: expected an object`);
  if ((options as { signal?: AbortSignal }).signal?.aborted) throw new AbortedError(operation);
}
