import type { ByteWriter } from '../protocol/bytes.js';
import {
  writeDeleteStream,
  writeEraseStream,
  writeGetMetadata,
  writeSetMetadata,
} from '../protocol/lifecycle-requests.js';
import type { Response } from '../protocol/responses.js';
import { checkDeletion, checkErasure, checkMetadataChange } from '../types/lifecycle-input.js';
import type { RandomIds } from '../types/random-ids.js';
import type {
  EraseStreamOptions,
  EraseStreamResult,
  DeleteStreamOptions,
  DeleteStreamResult,
  GetStreamMetadataOptions,
  SetStreamMetadataOptions,
  SetStreamMetadataResult,
  StreamMetadataResult,
} from '../types/stream-metadata.js';
import { validateStream } from '../types/validate.js';
import { unexpected, validateConsistency } from './answers.js';

/**
 * Streams' lifecycle requests as the client sends them: checked up front (types/lifecycle-input.ts,
 * as the embedded log checks them), encoded, and their answers turned into results.
 */
export interface LifecycleRequest<T> {
  write(writer: ByteWriter, id: number): void;
  accept(response: Response): T;
  signal?: AbortSignal | undefined;
}

export function setMetadataRequest(
  stream: unknown,
  metadata: unknown,
  options: SetStreamMetadataOptions,
  ids: RandomIds,
): LifecycleRequest<SetStreamMetadataResult> {
  const change = checkMetadataChange(stream, metadata, options);
  return {
    write: (w, id) => writeSetMetadata(w, id, change.stream, change.metadata, change.expected, ids),
    accept: metadataChangeResult,
    signal: options.signal,
  };
}

export function deleteStreamRequest(
  stream: unknown,
  options: DeleteStreamOptions,
  ids: RandomIds,
): LifecycleRequest<DeleteStreamResult> {
  const deletion = checkDeletion(stream, options);
  return {
    write: (w, id) => writeDeleteStream(w, id, deletion.stream, deletion.expected, deletion.tombstone, ids),
    accept: deletionResult,
    signal: options.signal,
  };
}

export function eraseRequest(
  stream: unknown,
  options: EraseStreamOptions,
  ids: RandomIds,
): LifecycleRequest<EraseStreamResult> {
  const erasure = checkErasure(stream, options);
  return {
    write: (w, id) => writeEraseStream(w, id, erasure.stream, erasure.expected, ids),
    accept: deletionResult,
    signal: options.signal,
  };
}

export function getMetadataRequest(
  stream: unknown,
  options: GetStreamMetadataOptions,
): LifecycleRequest<StreamMetadataResult> {
  const name = validateStream(stream);
  const consistency = validateConsistency(options.consistency);
  return {
    write: (w, id) => writeGetMetadata(w, id, name, consistency),
    accept: (response) => streamMetadataResult(name, response),
  };
}

/** A metadata change is answered like an append to the metadata stream: its count is `metadataCount`. */
function metadataChangeResult(response: Response): SetStreamMetadataResult {
  if (response.kind !== 'appendOk') throw unexpected('setStreamMetadata', response);
  return { position: response.result.position, metadataCount: response.result.count };
}

function deletionResult(response: Response): DeleteStreamResult {
  if (response.kind !== 'appendOk') throw unexpected('deleteStream', response);
  return { position: response.result.position };
}

function streamMetadataResult(stream: string, response: Response): StreamMetadataResult {
  if (response.kind !== 'streamMetadata') throw unexpected('getStreamMetadata', response);
  return { stream, ...response.answer };
}
