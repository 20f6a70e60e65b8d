import type { Response } from '../protocol/responses.js';
import { AbortedError, InvalidArgumentError, describe, type Expected } from '../types/errors.js';
import {
  validateStreamMetadata,
  type DeleteStreamOptions,
  type DeleteStreamResult,
  type SetStreamMetadataResult,
  type StreamMetadata,
  type StreamMetadataResult,
} from '../types/stream-metadata.js';
import { validateExpected, validateStream } from '../types/validate.js';
import { unexpected } from './answers.js';

/**
 * Streams' lifecycles as the client checks them before anything is sent (the embedded log's
 * checks, in its order, with its errors) and turns the answers into results.
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

function checkOptions(operation: string, options: unknown): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError(`invalid ${operation} options ${describe(options)}: expected an object`);
  if ((options as { signal?: AbortSignal }).signal?.aborted) throw new AbortedError(operation);
}

/** A metadata change is answered like an append to the metadata stream: its count is `metadataCount`. */
export function metadataChangeResult(response: Response): SetStreamMetadataResult {
  if (response.kind !== 'appendOk') throw unexpected('setStreamMetadata', response);
  return { position: response.result.position, metadataCount: response.result.count };
}

export function deletionResult(response: Response): DeleteStreamResult {
  if (response.kind !== 'appendOk') throw unexpected('deleteStream', response);
  return { position: response.result.position };
}

export function streamMetadataResult(stream: string, response: Response): StreamMetadataResult {
  if (response.kind !== 'streamMetadata') throw unexpected('getStreamMetadata', response);
  return { stream, ...response.answer };
}
