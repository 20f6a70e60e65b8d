import { InvalidArgumentError } from './errors.js';
import type { Json } from './event.js';

const decoder = new TextDecoder();

/** Decodes an event's JSON `data` (events appended with a non-bytes `data`). */
export function eventJson<T = Json>(event: { data: Uint8Array; contentType: 'json' | 'binary'; id: string }): T {
  if (event.contentType !== 'json') {
    throw new InvalidArgumentError(`event ${event.id} holds binary data, expected contentType 'json'`);
  }
  return JSON.parse(decoder.decode(event.data)) as T;
}
