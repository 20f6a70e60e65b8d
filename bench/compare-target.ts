/**
 * What the Ordo-vs-JetStream comparison runs on each system (bench/compare.ts): the same
 * workloads, 100-byte payloads, one client process. Each implementation maps them onto its
 * system's own API the way a TypeScript user of it would.
 */
export interface CompareTarget {
  readonly name: string;
  /** Sequential: each publish awaits its ack before the next. Returns acks/s. */
  awaited(seconds: number): Promise<number>;
  /** `total` single-message publishes, `inFlight` unacknowledged at a time. Returns acks/s (messages). */
  inFlight(total: number, inFlight: number): Promise<number>;
  /**
   * `total` messages published `batch` at a time (one append, or JetStream's
   * nearest: a burst awaited together), `inFlight` batches at a time.
   */
  batched(total: number, batch: number, inFlight: number): Promise<number>;
  /**
   * Writes `total` messages to a fresh stream (not timed), then
   * reads them all from the start. Returns messages/s read.
   */
  catchUp(total: number): Promise<number>;
  /**
   * Publishes at a fixed `rate` for `seconds` (after one second of warm-up) with a live
   * subscriber in the same process; latencies in µs of every message received, and how many
   * of those sent arrived within the time allowed.
   */
  latency(rate: number, seconds: number): Promise<{ micros: number[]; sent: number; received: number }>;
  /** `subscribers` live subscribers, then `events` published 1000 in flight. Returns deliveries/s (all subscribers). */
  fanOut(subscribers: number, events: number): Promise<number>;
  /** `clients` writers (own connections) appending to one stream, each with the count/sequence it last saw. */
  hotStream(clients: number, seconds: number): Promise<{ appends: number; conflicts: number }>;
  close(): Promise<void>;
}

export const PAYLOAD_BYTES = 100;
/** Latency runs stop waiting for stragglers this long after the last send. */
export const LATENCY_DRAIN_MS = 5_000;

/** A payload carrying a sequence number in its first 4 bytes (latency runs). */
export function numberedPayload(seq: number): Uint8Array {
  const data = new Uint8Array(PAYLOAD_BYTES);
  new DataView(data.buffer).setUint32(0, seq, true);
  return data;
}

export function payloadNumber(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
}

/**
 * The fixed-rate sender shared by both latency runs: every millisecond it sends what the
 * schedule says is due by now (a late tick catches up instead of lowering the rate), recording
 * each send time. Resolves when all `total` are sent.
 */
export function sendAtRate(
  rate: number,
  total: number,
  send: (seq: number) => void,
  sentAt: Float64Array,
): Promise<void> {
  let seq = 0;
  const start = performance.now();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + Math.ceil(rate / 1000));
      while (seq < due) {
        sentAt[seq] = performance.now();
        send(seq);
        seq++;
      }
      if (seq >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}

/** No throughput workload runs longer than this (a slower system does fewer units). */
export const MAX_WORKLOAD_MS = 6_000;

/** Runs `workers` loops until `total` units are taken (or `maxMs` passed); returns units/s. */
export async function runWorkers(
  total: number,
  workers: number,
  unit: number,
  work: (worker: number) => Promise<void>,
  maxMs = Number.POSITIVE_INFINITY,
): Promise<number> {
  let taken = 0;
  const start = performance.now();
  const deadline = start + maxMs;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (taken < total && performance.now() < deadline) {
        taken += unit;
        await work(worker);
      }
    }),
  );
  return (taken * 1000) / (performance.now() - start);
}

/**
 * The hot-stream loop both systems run: each writer appends with the count (or sequence) it
 * last saw and, on a conflict, retries with the one it was told. `attempt` returns the next
 * value to expect and whether this try was a conflict. Returns successes and conflicts per second.
 */
export async function contend(
  writers: number,
  seconds: number,
  attempt: (writer: number, expected: number) => Promise<{ next: number; conflict: boolean }>,
): Promise<{ appends: number; conflicts: number }> {
  let appends = 0;
  let conflicts = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      let expected = 0;
      while (performance.now() < end) {
        const outcome = await attempt(writer, expected);
        expected = outcome.next;
        if (outcome.conflict) conflicts++;
        else appends++;
      }
    }),
  );
  return { appends: appends / seconds, conflicts: conflicts / seconds };
}
