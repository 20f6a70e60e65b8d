import type { ServerResponse } from 'node:http';
import type { OrdoNode } from '../../node/index.js';
import { LimitExceededError } from '../../types/errors.js';
import type { ServerMetrics } from '../metrics.js';
import { streamEvents } from '../sse.js';
import { booleanParam, filterOption, fromOf } from './params.js';
import type { Route } from './route.js';

export interface SubscribeRouteOptions {
  log: OrdoNode;
  metrics: ServerMetrics;
  /** Every open event stream of the server (SSE and console feed), to end them at shutdown. */
  streams: Set<ServerResponse>;
  /** Open event streams at most, server-wide; more get 429. */
  maxSseStreams: number;
}

/** GET /subscribe: the log as Server-Sent Events, from a position or `Last-Event-ID`, optionally filtered. */
export function subscribeRoutes({ log, metrics, streams, maxSseStreams }: SubscribeRouteOptions): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['subscribe'],
      operation: 'subscribe',
      run: async ({ req, res, query }) => {
        if (streams.size >= maxSseStreams) {
          const message = `the server already has ${streams.size} event streams open, the limit is ${maxSseStreams}`;
          throw new LimitExceededError(message);
        }
        const from = fromOf(req, query);
        const filter = filterOption(query);
        const transient = booleanParam(query, 'transient');
        const subscription = log.subscribe({ from, ...filter, transient });
        streams.add(res);
        metrics.subscriptionOpened('sse');
        try {
          await streamEvents(req, res, subscription);
        } finally {
          streams.delete(res);
          metrics.subscriptionClosed('sse');
        }
        return 'streamed';
      },
    },
  ];
}
