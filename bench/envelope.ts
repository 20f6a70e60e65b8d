import { Decoder, Encoder } from '@msgpack/msgpack';
import { ByteReader, ByteWriter, readAppendRecords, writeAppendRecords } from '../src/protocol/index.js';
import { RandomIds } from '../src/types/random-ids.js';
import { prepareEvents } from '../src/types/validate.js';
import type { BenchRow } from './report.js';
import { RECORD_BYTES } from './raw-disk.js';

const GROUP = 'wire envelope';
const EVENTS_PER_FRAME = 100;

/**
 * The choice between msgpack and a hand-packed wire envelope, measured: encoding and
 * decoding one append of 100 events (100-byte data, a type, an id), in ns per event, in this
 * process. The hand-packed one is the log's record layout, so the server also stores the bytes
 * it received and sends stored bytes as they are; msgpack would need a re-encode on both paths.
 */
export function benchEnvelope(options: { quick?: boolean }): BenchRow[] {
  const rounds = options.quick ? 2_000 : 10_000;
  const data = new Uint8Array(RECORD_BYTES).fill(42);
  // Without ids, as most appends are: the client makes them up (see docs/protocol.md).
  const inputs = Array.from({ length: EVENTS_PER_FRAME }, () => ({ type: 'Bench', data }));
  const prepared = prepareEvents(inputs, 1024 * 1024);
  const ids = new RandomIds();
  const writer = new ByteWriter();

  const handEncode = time(rounds, () => {
    writeAppendRecords(writer, prepared, ids);
    writer.take();
  });
  writeAppendRecords(writer, prepared, ids);
  const frame = writer.take();
  const handDecode = time(rounds, () => readAppendRecords(new ByteReader(frame), 1024 * 1024, 1_000_000));

  const encoder = new Encoder();
  const decoder = new Decoder();
  const envelope = inputs.map((event) => ({ id: globalThis.crypto.randomUUID(), type: event.type, data: event.data }));
  const msgEncode = time(rounds, () => encoder.encode(envelope));
  const packed = encoder.encode(envelope);
  const msgDecode = time(rounds, () => decoder.decode(packed));

  const perEvent = (ms: number) => (ms * 1e6) / (rounds * EVENTS_PER_FRAME);
  const row = (name: string, ms: number, reference: number): BenchRow => ({
    group: GROUP,
    name,
    value: perEvent(ms),
    unit: 'ns/event',
    ratio: { of: 'msgpack', value: perEvent(ms) / perEvent(reference) },
  });
  return [
    row('hand-packed records: encode (client)', handEncode, msgEncode),
    row('hand-packed records: decode + checks (server)', handDecode, msgDecode),
    { group: GROUP, name: 'msgpack (@msgpack/msgpack): encode', value: perEvent(msgEncode), unit: 'ns/event' },
    {
      group: GROUP,
      name: 'msgpack (@msgpack/msgpack): decode',
      value: perEvent(msgDecode),
      unit: 'ns/event',
      note: 'no checks, ids still strings',
    },
  ];
}

function time(rounds: number, work: () => unknown): number {
  for (let i = 0; i < Math.min(rounds, 500); i++) work(); // warm up
  const start = performance.now();
  for (let i = 0; i < rounds; i++) work();
  return performance.now() - start;
}
