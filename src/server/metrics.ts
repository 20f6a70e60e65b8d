import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OrdoNode } from '../node/index.js';

export type Transport = 'tcp' | 'ws' | 'http' | 'sse';

/** What every transport reports, and `/metrics` renders (Prometheus text format). */
export interface ServerMetrics {
  readonly registry: Registry;
  connectionOpened(transport: Transport): void;
  connectionClosed(transport: Transport): void;
  subscriptionOpened(transport: Transport): void;
  subscriptionClosed(transport: Transport): void;
  /** One answered request; `outcome` is 'ok' or the error code. */
  request(operation: string, transport: Transport, outcome: string): void;
  render(): Promise<{ contentType: string; body: string }>;
  /**
   * The fdatasync durations (seconds) since the last call, for
   * the console's live charts (at most the newest 10,000).
   */
  takeFsyncs(): number[];
}

const MS_PER_SECOND = 1000;

/** Fsync durations kept between two takes (the console samples once a second). */
const RECENT_FSYNCS_MAX = 10_000;

/** fdatasync durations worth telling apart on SSDs and on slow network disks, in seconds. */
const FSYNC_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/**
 * The server's metrics on its own registry (never prom-client's global one, so two servers in
 * one process do not mix). Log totals are read from the log at scrape time, so the write path
 * pays nothing for them.
 */
export function createServerMetrics(log: OrdoNode): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerLogMetrics(registry, log);
  const takeFsyncs = recordFsyncs(registry, log);
  const connections = new Gauge({
    name: 'ordo_connections',
    help: 'Open client connections (HTTP: requests in progress)',
    labelNames: ['transport'],
    registers: [registry],
  });
  const subscriptions = new Gauge({
    name: 'ordo_subscriptions',
    help: 'Open subscriptions by transport',
    labelNames: ['transport'],
    registers: [registry],
  });
  return {
    registry,
    connectionOpened: (transport) => connections.inc({ transport }),
    connectionClosed: (transport) => connections.dec({ transport }),
    subscriptionOpened: (transport) => subscriptions.inc({ transport }),
    subscriptionClosed: (transport) => subscriptions.dec({ transport }),
    request: countRequests(registry),
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    takeFsyncs,
  };
}

type LogMetrics = ReturnType<OrdoNode['metrics']>;
/** The metrics that are numbers (the write state is exposed as one gauge per state). */
type LogMetricKey = { [K in keyof LogMetrics]: LogMetrics[K] extends number ? K : never }[keyof LogMetrics];

/** The log's own totals and gauges, each read from `log.metrics()` at scrape time. */
function registerLogMetrics(registry: Registry, log: OrdoNode): void {
  const fromLog = <K extends LogMetricKey>(key: K) =>
    function (this: Counter | Gauge) {
      if (!log.closed) (this as Gauge).set(log.metrics()[key]);
    };
  // Totals kept by the log are exposed as counters whose value is set at scrape time.
  const total = (name: string, help: string, key: LogMetricKey) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        if (log.closed) return;
        this.reset();
        this.inc(log.metrics()[key]);
      },
    });
  total('ordo_appends_total', 'Appends accepted since the server started (an appendMany is one)', 'appends');
  total('ordo_appended_events_total', 'Events appended since the server started', 'appendedEvents');
  total('ordo_written_bytes_total', 'Bytes written to segment files since the server started', 'bytesWritten');
  total('ordo_fsyncs_total', 'Group-commit fdatasyncs since the server started', 'fsyncs');
  new Gauge({
    name: 'ordo_head_position',
    help: 'The high-water mark: the last committed position (-1: empty)',
    registers: [registry],
    collect: fromLog('headPosition'),
  });
  new Gauge({ name: 'ordo_streams', help: 'Streams in the log', registers: [registry], collect: fromLog('streams') });
  new Gauge({
    name: 'ordo_live_subscribers',
    help: 'Subscriptions on the live tail (not catching up from disk)',
    registers: [registry],
    collect: fromLog('liveSubscribers'),
  });
  new Gauge({
    name: 'ordo_subscriber_lag_events',
    help: 'How far the slowest live subscriber is behind the head, in events',
    registers: [registry],
    collect: fromLog('maxSubscriberLag'),
  });
  registerScrubMetrics(registry, log, total);
  registerWriteState(registry, log);
  new Gauge({
    name: 'ordo_first_position',
    help: 'The oldest position still readable (0 until retention removes the first segments)',
    registers: [registry],
    collect: fromLog('firstPosition'),
  });
  total(
    'ordo_retention_dropped_segments_total',
    'Segments retention removed since the server started',
    'retentionDroppedSegments',
  );
  total(
    'ordo_retention_dropped_bytes_total',
    'Bytes retention removed since the server started',
    'retentionDroppedBytes',
  );
  const gauge = (name: string, help: string, key: LogMetricKey) =>
    new Gauge({ name, help, registers: [registry], collect: fromLog(key) });
  registerScavengeMetrics(total, gauge);
}

type Register = (name: string, help: string, key: LogMetricKey) => Counter | Gauge;

function registerScavengeMetrics(total: Register, gauge: Register): void {
  total('ordo_scavenge_passes_total', 'Scavenging passes over the sealed segments finished', 'scavengePasses');
  total('ordo_scavenge_holes_total', 'Events whose bytes scavenging and erasures removed', 'scavengeHoles');
  total('ordo_scavenge_reclaimed_bytes_total', 'Bytes scavenging and erasures reclaimed', 'scavengeBytesReclaimed');
  gauge('ordo_scavenge_pass_progress', 'How far the scavenging pass under way is, 0 to 1', 'scavengePassProgress');
  gauge('ordo_erasures_pending', 'Erased streams whose bytes this node has not finished removing', 'erasuresPending');
}

/** One 0/1 gauge per refusal, so an alert can fire on either: see `WriteState`. */
function registerWriteState(registry: Registry, log: OrdoNode): void {
  const is = (state: LogMetrics['writeState']) =>
    function (this: Gauge) {
      if (!log.closed) this.set(log.metrics().writeState === state ? 1 : 0);
    };
  new Gauge({
    name: 'ordo_disk_full',
    help: 'Whether appends are refused with DISK_FULL now (1) or not (0); writing resumes by itself',
    registers: [registry],
    collect: is('disk-full'),
  });
  new Gauge({
    name: 'ordo_storage_stopped',
    help: 'Whether the node stopped on a failed fdatasync (1): it must be restarted',
    registers: [registry],
    collect: is('stopped'),
  });
}

/** The background scrub of sealed segments, and the damaged batches found by it or by reads. */
function registerScrubMetrics(
  registry: Registry,
  log: OrdoNode,
  total: (name: string, help: string, key: LogMetricKey) => Counter,
): void {
  total(
    'ordo_scrub_verified_bytes_total',
    'Bytes of sealed segments the scrub read and verified',
    'scrubVerifiedBytes',
  );
  total('ordo_scrub_passes_total', 'Scrub passes over every sealed segment completed', 'scrubPasses');
  total(
    'ordo_damaged_batches_total',
    'Distinct damaged batches of sealed segments found by reads or the scrub (see ordo status)',
    'damagedBatches',
  );
  new Gauge({
    name: 'ordo_scrub_last_pass_end_timestamp_seconds',
    help: 'When the last scrub pass ended, in seconds since the epoch (0: none yet)',
    registers: [registry],
    collect() {
      if (!log.closed) this.set(log.metrics().scrubLastPassEndTime / MS_PER_SECOND);
    },
  });
  new Gauge({
    name: 'ordo_scrub_pass_progress_ratio',
    help: 'How far the scrub pass in progress is, from 0 to 1 (0 between passes)',
    registers: [registry],
    collect() {
      if (!log.closed) this.set(log.metrics().scrubPassProgress);
    },
  });
}

/**
 * Observes every fdatasync into a histogram and keeps the recent durations for the console;
 * returns the function that takes (and clears) them.
 */
function recordFsyncs(registry: Registry, log: OrdoNode): () => number[] {
  const fsync = new Histogram({
    name: 'ordo_fsync_duration_seconds',
    help: 'Duration of each group-commit fdatasync',
    buckets: FSYNC_BUCKETS_SECONDS,
    registers: [registry],
  });
  let recentFsyncs: number[] = [];
  log.onFsync = (seconds) => {
    fsync.observe(seconds);
    if (recentFsyncs.length < RECENT_FSYNCS_MAX) recentFsyncs.push(seconds);
  };
  return () => {
    const taken = recentFsyncs;
    recentFsyncs = [];
    return taken;
  };
}

/** The request counter; returns what counts one answered request. */
function countRequests(registry: Registry): ServerMetrics['request'] {
  // Counted in a plain map and handed to prom-client at scrape time: a counter's inc() per
  // request was ~6% of the server's CPU at 200k appends/s (profile of `ordo serve`).
  const requestCounts = new Map<
    string,
    { labels: { operation: string; transport: string; outcome: string }; count: number }
  >();
  new Counter({
    name: 'ordo_requests_total',
    help: 'Requests answered, by operation, transport and outcome (ok or the error code)',
    labelNames: ['operation', 'transport', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, count } of requestCounts.values()) this.inc(labels, count);
    },
  });
  return (operation, transport, outcome) => {
    const key = `${operation}\u0000${transport}\u0000${outcome}`;
    const entry = requestCounts.get(key);
    if (entry) entry.count++;
    else requestCounts.set(key, { labels: { operation, transport, outcome }, count: 1 });
  };
}
