import {
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  connect,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
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
/** JetStream's answer to a publish whose expected last subject sequence does not hold. */
const WRONG_LAST_SEQUENCE = /wrong last sequence: (\d+)/;

/**
 * NATS JetStream through the `nats` npm client, tuned as its docs advise for throughput
 * (`noAsyncTraces: true`), file storage, one stream per workload (subjects `<workload>.*`).
 */
export async function jetStreamTarget(url: string, name: string): Promise<CompareTarget> {
  const nc = await connect({ servers: url, noAsyncTraces: true, maxPingOut: 10 });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const extra: NatsConnection[] = [];
  let run = 0;
  const fresh = async (what: string): Promise<string> => {
    const stream = `${what}-${++run}`;
    await jsm.streams.add({
      name: stream,
      subjects: [`${stream}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
    return stream;
  };
  return {
    name,
    async awaited(seconds) {
      const stream = await fresh('awaited');
      let count = 0;
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        await js.publish(`${stream}.a`, payload);
        count++;
      }
      return (count * 1000) / (performance.now() - start);
    },
    async inFlight(total, inFlight) {
      const stream = await fresh('in-flight');
      return runWorkers(
        total,
        inFlight,
        1,
        (worker) => js.publish(`${stream}.${worker % 16}`, payload).then(() => undefined),
        MAX_WORKLOAD_MS,
      );
    },
    async batched(total, batch, inFlight) {
      // No batch publish in JetStream: a burst of `batch` publishes, awaited together.
      const stream = await fresh('batched');
      return runWorkers(
        total,
        inFlight,
        batch,
        async (worker) => {
          await Promise.all(Array.from({ length: batch }, () => js.publish(`${stream}.${worker % 16}`, payload)));
        },
        MAX_WORKLOAD_MS,
      );
    },
    async catchUp(total) {
      const stream = await fresh('catch-up');
      await fill(nc, jsm, stream, total);
      // An ordered consumer starts at the stream's first message by default (asking for
      // deliver_policy 'all' explicitly stalls this client version).
      const consumer = await js.consumers.get(stream);
      const start = performance.now();
      const messages = await consumer.consume({ max_messages: 10_000 });
      let count = 0;
      for await (const _ of messages) if (++count >= total) break;
      const result = (count * 1000) / (performance.now() - start);
      await messages.close();
      return result;
    },
    async latency(rate, seconds) {
      const stream = await fresh('latency');
      const total = Math.round((seconds + 1) * rate);
      const warmUp = rate;
      const sentAt = new Float64Array(total);
      const micros: number[] = [];
      const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume({ max_messages: 10_000 });
      let received = 0;
      const receiving = (async () => {
        for await (const message of messages) {
          const at = performance.now();
          const seq = payloadNumber(message.data);
          if (seq >= warmUp) micros.push((at - sentAt[seq]!) * 1000);
          if (++received >= total) return;
        }
      })();
      await nc.flush();
      // An unanswered publish is given up on after 30 s (the client's timeout): counted as not received.
      await sendAtRate(
        rate,
        total,
        (seq) => void js.publish(`${stream}.l`, numberedPayload(seq)).catch(() => undefined),
        sentAt,
      );
      await Promise.race([receiving, new Promise((resolve) => setTimeout(resolve, LATENCY_DRAIN_MS))]);
      await messages.close();
      return { micros, sent: total - warmUp, received: Math.max(0, received - warmUp) };
    },
    async fanOut(subscribers, events) {
      const stream = await fresh('fan-out');
      const iterators = await Promise.all(
        Array.from({ length: subscribers }, async () =>
          (await js.consumers.get(stream, { deliver_policy: DeliverPolicy.New })).consume({ max_messages: 10_000 }),
        ),
      );
      await nc.flush();
      const start = performance.now();
      const receiving = iterators.map(async (messages) => {
        let count = 0;
        for await (const _ of messages) if (++count >= events) break;
        await messages.close();
      });
      await runWorkers(events, 1000, 1, () => js.publish(`${stream}.f`, payload).then(() => undefined));
      await Promise.all(receiving);
      return (subscribers * events * 1000) / (performance.now() - start);
    },
    async hotStream(clients, seconds) {
      const stream = await fresh('hot');
      const subject = `${stream}.one`;
      const writers = await Promise.all(
        Array.from({ length: clients }, () => connect({ servers: url, noAsyncTraces: true })),
      );
      extra.push(...writers);
      const publishers: JetStreamClient[] = writers.map((writer) => writer.jetstream());
      return contend(publishers.length, seconds, async (writer, last) => {
        try {
          return {
            next: (await publishers[writer]!.publish(subject, payload, { expect: { lastSubjectSequence: last } })).seq,
            conflict: false,
          };
        } catch (error) {
          const match = WRONG_LAST_SEQUENCE.exec((error as Error).message);
          if (!match) throw error;
          return { next: Number(match[1]), conflict: true };
        }
      });
    },
    async close() {
      for (const writer of extra) await writer.close();
      await nc.close();
    },
  };
}

/**
 * Fills `stream` with `total` messages fast (core NATS publishes,
 * no acks), then waits until the stream holds them all.
 */
async function fill(nc: NatsConnection, jsm: JetStreamManager, stream: string, total: number): Promise<void> {
  const FLUSH_EVERY = 10_000;
  for (let i = 0; i < total; i++) {
    nc.publish(`${stream}.c`, payload);
    if ((i + 1) % FLUSH_EVERY === 0) await nc.flush();
  }
  await nc.flush();
  const deadline = performance.now() + 120_000;
  while ((await jsm.streams.info(stream)).state.messages < total) {
    if (performance.now() > deadline)
      throw new Error(`JetStream stream ${stream} did not reach ${total} messages within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
