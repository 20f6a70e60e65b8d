import type { Response } from '../protocol/responses.js';
import type { DeleteStreamResult, SetStreamMetadataResult, StreamMetadataResult } from '../types/stream-metadata.js';
import { unexpected } from './answers.js';

/** The answers to streams' lifecycle requests, as results (the input checks are in types/lifecycle-input.ts). */
export { checkDeletion, checkMetadataChange } from '../types/lifecycle-input.js';

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
