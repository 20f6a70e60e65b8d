import { connect, type RemoteEventLog } from '../src/client/index.js';
import { WrongExpectedCountError } from '../src/types/index.js';
import {
  LATENCY_DRAIN_MS,
  PAYLOAD_BYTES,
  numberedPayload,
  payloadNumber,
  runWorkers,
  sendAtRate,
  MAX_WORKLOAD_MS,
  contend,
  type CompareTarget,
} from './compare-target.js';

const payload = new Uint8Array(PAYLOAD_BYTES).fill(42);
const event = { type: 'Bench', data: payload };

/** Ordo through `connect()` to `ordo serve` in its own process (fsync before every ack). */
export async function ordoTarget(url: string | string[], name = 'Ordo'): Promise<CompareTarget> {
  // A cluster's first append waits for an elected leader (the client follows NOT_LEADER to it).
  const log = await connect(url, { clientName: 'bench-compare', timeoutMs: 60_000 });
  await log.append('warm-up', event);
  const extra: RemoteEventLog[] = [];
  let run = 0;
  const fresh = (what: string) => `${what}-${++run}`;
  return {
    name,
    async awaited(seconds) {
      const stream = fresh('awaited');
      let count = 0;
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        await log.append(stream, event);
        count++;
      }
      return (count * 1000) / (performance.now() - start);
    },
    inFlight(total, inFlight) {
      const prefix = fresh('in-flight');
      return runWorkers(
        total,
        inFlight,
        1,
        (worker) => log.append(`${prefix}-${worker % 16}`, event).then(() => undefined),
        MAX_WORKLOAD_MS,
      );
    },
    batched(total, batch, inFlight) {
      const prefix = fresh('batched');
      const events = Array.from({ length: batch }, () => event);
      return runWorkers(
        total,
        inFlight,
        batch,
        (worker) => log.append(`${prefix}-${worker % 16}`, events).then(() => undefined),
        MAX_WORKLOAD_MS,
      );
    },
    async catchUp(total) {
      const stream = fresh('catch-up');
      const events = Array.from({ length: 1000 }, () => event);
      let first = Number.POSITIVE_INFINITY;
      await runWorkers(total, 8, 1000, async () => {
        const { position } = await log.append(stream, events);
        first = Math.min(first, position);
      });
      // A subscriber reading from the first of them: what a consumer
      // catching up does (nothing else is written meanwhile).
      const start = performance.now();
      let count = 0;
      const subscription = log.subscribe({ from: first });
      for await (const _ of subscription) if (++count >= total) break;
      subscription.close();
      return (count * 1000) / (performance.now() - start);
    },
    async latency(rate, seconds) {
      const stream = fresh('latency');
      const total = Math.round((seconds + 1) * rate);
      const warmUp = rate;
      const sentAt = new Float64Array(total);
      const micros: number[] = [];
      const subscription = log.subscribe({ from: 'end', filter: { streams: [stream] } });
      let received = 0;
      const receiving = (async () => {
        for await (const item of subscription) {
          const at = performance.now();
          const seq = payloadNumber((item as { data: Uint8Array }).data);
          if (seq >= warmUp) micros.push((at - sentAt[seq]!) * 1000);
          if (++received >= total) return;
        }
      })();
      // The subscription is in place once the server answered something on this connection.
      await log.headPosition();
      await sendAtRate(
        rate,
        total,
        (seq) => void log.append(stream, { type: 'Ping', data: numberedPayload(seq) }),
        sentAt,
      );
      await Promise.race([receiving, new Promise((resolve) => setTimeout(resolve, LATENCY_DRAIN_MS))]);
      subscription.close();
      return { micros, sent: total - warmUp, received: Math.max(0, received - warmUp) };
    },
    async fanOut(subscribers, events) {
      const stream = fresh('fan-out');
      const subscriptions = Array.from({ length: subscribers }, () =>
        log.subscribe({ from: 'end', filter: { streams: [stream] } }),
      );
      await log.headPosition();
      const start = performance.now();
      const receiving = subscriptions.map(async (subscription) => {
        let count = 0;
        for await (const _ of subscription) if (++count >= events) break;
        subscription.close();
      });
      await runWorkers(events, 1000, 1, () => log.append(stream, event).then(() => undefined));
      await Promise.all(receiving);
      return (subscribers * events * 1000) / (performance.now() - start);
    },
    async hotStream(clients, seconds) {
      const stream = fresh('hot');
      const writers = await Promise.all(
        Array.from({ length: clients }, () => connect(url, { clientName: 'bench-hot', timeoutMs: 60_000 })),
      );
      extra.push(...writers);
      return contend(clients, seconds, async (writer, count) => {
        try {
          return { next: (await writers[writer]!.append(stream, event, { expected: count })).count, conflict: false };
        } catch (error) {
          if (!(error instanceof WrongExpectedCountError)) throw error;
          return { next: error.actual, conflict: true };
        }
      });
    },
    async close() {
      for (const writer of extra) await writer.close();
      await log.close();
    },
  };
}
