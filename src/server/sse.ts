import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeSubscription } from '../node/index.js';
import type { Event, TransientEvent } from '../types/event.js';
import { OrdoError } from '../types/errors.js';
import { errorToJson, eventToJson } from './http-json.js';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;
/** Events written per wake-up before checking for backpressure. */
const EVENTS_PER_WRITE = 256;
/** What EventSource waits before reconnecting, told to it at the start. */
const RETRY_MS = 1_000;

/**
 * Streams a subscription as Server-Sent Events: committed events as `event: event` with
 * `id: <position>` (so EventSource's `Last-Event-ID` resumes exactly after it), transient ones
 * as `event: transient` without an id, and a failure of the log under it as a last
 * `event: failure` holding the error's JSON. Pulls from the log only while the client keeps up:
 * when the socket's buffer is full it waits for 'drain', so a slow client costs the server no
 * memory beyond one batch (the log's subscription falls back to disk if it lags).
 */
export async function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  subscription: NodeSubscription,
): Promise<void> {
  startEventStream(res, RETRY_MS);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  const closed = () => subscription.close();
  req.once('close', closed);
  const batch: Array<Event | TransientEvent> = [];
  try {
    for (;;) {
      batch.length = 0;
      if (subscription.takeReady(batch, EVENTS_PER_WRITE) === 0) {
        const next = await subscription.next();
        if (next.done) break;
        batch.push(next.value);
        subscription.takeReady(batch, EVENTS_PER_WRITE - 1);
      }
      let text = '';
      for (const item of batch) text += format(item);
      if (!res.write(text)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
      if (res.destroyed) break;
    }
  } catch (error) {
    // The log failed under the subscription (a damaged batch): the client gets the typed error
    // as the stream's last message, since the status line has long been sent.
    if (error instanceof OrdoError && !res.destroyed)
      res.write(`event: failure\ndata: ${JSON.stringify(errorToJson(error))}\n\n`);
    throw error;
  } finally {
    clearInterval(keepAlive);
    req.off('close', closed);
    subscription.close();
    res.end();
  }
}

/**
 * Sends the headers of a Server-Sent Events response (never buffered by a proxy, readable from
 * any origin) and tells EventSource how long to wait before it reconnects.
 */
export function startEventStream(res: ServerResponse, retryMs: number): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'access-control-allow-origin': '*',
  });
  res.write(`retry: ${retryMs}\n\n`);
}

function format(item: Event | TransientEvent): string {
  const data = JSON.stringify(eventToJson(item));
  return 'transient' in item
    ? `event: transient\ndata: ${data}\n\n`
    : `id: ${item.position}\nevent: event\ndata: ${data}\n\n`;
}
