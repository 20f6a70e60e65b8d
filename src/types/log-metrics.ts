/** Running totals and gauges for /metrics. */
export interface LogMetrics {
  /** The high-water mark. */
  headPosition: number;
  /** Appends accepted since open (an appendMany is one). */
  appends: number;
  appendedEvents: number;
  /** Bytes written to segments since open. */
  bytesWritten: number;
  fsyncs: number;
  streams: number;
  /** Subscriptions on the live tail (those catching up from disk are not counted). */
  liveSubscribers: number;
  /** How far the slowest live subscriber is behind the high-water mark, in events. */
  maxSubscriberLag: number;
}
