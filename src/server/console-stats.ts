import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OrdoNode } from '../node/index.js';
import type { HostedPatterns } from './hosted.js';
import type { ConsumerStatus, ModelStatus } from '../patterns/index.js';
import type { ServerMetrics } from './metrics.js';
import { startEventStream } from './sse.js';

/** One sample a second: what the console's overview charts plot. */
export const STATS_INTERVAL_MS = 1_000;

export interface ConsoleStats {
  /** Milliseconds since the epoch. */
  time: number;
  node: ReturnType<OrdoNode['raftStatus']>;
  /** Each node's binary protocol URL (a cluster), so the console can name them. */
  peers: Readonly<Record<string, string>>;
  log: ReturnType<OrdoNode['metrics']>;
  /** The fdatasyncs of the last interval. */
  fsync: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
  models: ModelStatus[];
  consumers: ConsumerStatus[];
}

/**
 * The console's live feed (`GET /console/stats`, Server-Sent Events): one sampler for every
 * open console, running only while one is open, so the samples (fsync durations are taken, not
 * copied) are the same for all and cost nothing when nobody looks.
 */
export function createConsoleStats(
  log: OrdoNode,
  metrics: ServerMetrics,
  hosted: HostedPatterns,
  peers: Readonly<Record<string, string>>,
) {
  const listeners = new Set<(stats: ConsoleStats) => void>();
  let timer: NodeJS.Timeout | undefined;

  /** A sample; `take` hands the fsync durations to it (the shared tick) instead of leaving them. */
  const sample = (take = true): ConsoleStats => {
    const fsyncs = take ? metrics.takeFsyncs().sort((a, b) => a - b) : [];
    return {
      time: Date.now(),
      node: log.raftStatus(),
      peers,
      log: log.metrics(),
      fsync: summarizeFsyncs(fsyncs),
      models: [...hosted.models.values()].map((model) => model.status()),
      consumers: [...hosted.consumers.values()].map((consumer) => consumer.status()),
    };
  };

  const subscribe = (listener: (stats: ConsoleStats) => void): (() => void) => {
    listeners.add(listener);
    if (!timer) {
      // Durations gathered while nobody watched are old news: the first chart point starts now.
      metrics.takeFsyncs();
      timer = setInterval(() => {
        if (log.closed) return;
        const stats = sample();
        for (const each of listeners) each(stats);
      }, STATS_INTERVAL_MS);
      timer.unref();
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && timer) {
        clearInterval(timer);
        timer = undefined;
      }
    };
  };

  return {
    /** Streams samples to one console until it goes away (or the server closes it). */
    stream(req: IncomingMessage, res: ServerResponse, onEnd: (end: () => void) => void): Promise<void> {
      startEventStream(res, STATS_INTERVAL_MS);
      return new Promise<void>((resolve) => {
        const stop = subscribe((stats) => res.write(`event: stats\ndata: ${JSON.stringify(stats)}\n\n`));
        // A first sample at once, so the page has something to show; its fsync figures are
        // those since the sampler's last tick (left for the shared sampler to take).
        if (!log.closed) res.write(`event: stats\ndata: ${JSON.stringify(sample(false))}\n\n`);
        const end = () => {
          stop();
          res.end();
          resolve();
        };
        req.once('close', end);
        onEnd(end);
      });
    },
  };
}

/** Count, median, 99th percentile and maximum of one interval's fdatasyncs (sorted seconds), in ms. */
function summarizeFsyncs(fsyncs: readonly number[]): ConsoleStats['fsync'] {
  const at = (p: number) =>
    fsyncs.length === 0 ? 0 : fsyncs[Math.min(fsyncs.length - 1, Math.floor(p * fsyncs.length))]! * 1000;
  return {
    count: fsyncs.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: fsyncs.length === 0 ? 0 : fsyncs[fsyncs.length - 1]! * 1000,
  };
}
