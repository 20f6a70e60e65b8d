import type { Event, TransientEvent } from '../types/event.js';

const decoder = new TextDecoder();

/** One JSON line per event: JSON data inline, bytes as base64. */
export function formatEvent(event: Event | TransientEvent): string {
  const data =
    event.contentType === 'json' ? JSON.parse(decoder.decode(event.data)) : Buffer.from(event.data).toString('base64');
  if ('transient' in event) {
    return JSON.stringify({
      transient: true,
      stream: event.stream,
      type: event.type,
      id: event.id,
      timestamp: new Date(event.timestamp).toISOString(),
      data,
    });
  }
  return JSON.stringify({
    position: event.position,
    stream: event.stream,
    index: event.index,
    type: event.type,
    id: event.id,
    timestamp: new Date(event.timestamp).toISOString(),
    ...(event.contentType === 'binary' ? { dataBase64: data } : { data }),
    ...(event.metadata ? { metadata: event.metadata } : {}),
  });
}
