import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeRaftMessage,
  decodeRaftMessages,
  encodeRaftMessage,
  encodeRaftMessages,
} from '../../src/protocol/raft-messages.js';
import {
  encodeConfigEntry,
  message,
  type Entry,
  type Message,
  type MessageType,
  type Snapshot,
} from '../../src/raft/index.js';
import { ProtocolError } from '../../src/types/index.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

const ENTRIES: Entry[] = [
  { term: 3, index: 41, kind: 'normal', data: new Uint8Array(0) }, // a new leader's no-op
  { term: 3, index: 42, kind: 'normal', data: bytes(0, 1, 2, 0xfe, 0xff, 0x80, 0) },
  {
    term: 4,
    index: 43,
    kind: 'config',
    data: encodeConfigEntry({
      changes: [{ type: 'add-learner', node: 'n4', address: '127.0.0.1:7004' }],
      config: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
    }),
  },
];
const SNAPSHOT: Snapshot = {
  index: 40,
  term: 3,
  config: { voters: ['n1', 'n2', 'n3'], learners: ['n4', 'nœud-5'] },
  data: bytes(9, 8, 7, 0, 0xff),
};

/** One realistic message of every type sent between nodes. */
const NETWORK_MESSAGES: Message[] = [
  message({ type: 'append', from: 'n1', to: 'n2', term: 4, logTerm: 3, index: 40, commit: 39, entries: ENTRIES }),
  message({
    type: 'append-response',
    from: 'n2',
    to: 'n1',
    term: 4,
    index: 38,
    reject: true,
    rejectHint: 35,
    logTerm: 2,
  }),
  message({ type: 'vote', from: 'n3', to: 'n1', term: 5, logTerm: 4, index: 43, transfer: true }),
  message({ type: 'vote-response', from: 'n1', to: 'n3', term: 5, reject: true }),
  message({ type: 'pre-vote', from: 'n3', to: 'n2', term: 6, logTerm: 4, index: 43 }),
  message({ type: 'pre-vote-response', from: 'n2', to: 'n3', term: 6 }),
  message({ type: 'snapshot', from: 'n1', to: 'n4', term: 4, snapshot: SNAPSHOT }),
  message({ type: 'heartbeat', from: 'n1', to: 'n2', term: 4, commit: 43, context: 17 }),
  message({ type: 'heartbeat-response', from: 'n2', to: 'n1', term: 4, context: 17 }),
  message({ type: 'transfer-leader', from: 'n3', to: 'n1', term: 4 }),
  message({ type: 'timeout-now', from: 'n1', to: 'n3', term: 4 }),
  message({ type: 'read-index', from: 'n2', to: 'n1', context: 9 }), // forwarded by a follower: term 0
  message({ type: 'read-index-response', from: 'n1', to: 'n2', term: 4, index: 43, context: 9 }),
];
const LOCAL_TYPES: MessageType[] = ['hup', 'beat', 'check-quorum', 'propose', 'unreachable', 'snapshot-status'];
const NETWORK_TYPES = NETWORK_MESSAGES.map((m) => m.type);

function throwsProtocolError(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

/** Decoding either succeeds or fails with a ProtocolError; anything else is a bug. */
function decodesOrProtocolError(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
}

function withByte(encoded: Uint8Array, at: number, value: number): Uint8Array {
  const copy = encoded.slice();
  copy[at] = value;
  return copy;
}

function withU32(encoded: Uint8Array, at: number, value: number): Uint8Array {
  const copy = encoded.slice();
  new DataView(copy.buffer).setUint32(at, value, true);
  return copy;
}

const HEARTBEAT = message({ type: 'heartbeat', from: 'n1', to: 'n2', term: 5, commit: 7, context: 3 });
/** Offsets in the encoded HEARTBEAT (2-byte ids): the u64 fields start after 3 + 4 + 4 bytes. */
const AT = { version: 0, type: 1, flags: 2, from: 3, term: 11, termHigh: 15, entryCount: 59 };

const nodeId = fc.oneof(
  fc.constantFrom('', 'n1', 'n2', 'n3'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);
const entry: fc.Arbitrary<Entry> = fc
  .record({
    term: fc.maxSafeNat(),
    index: fc.maxSafeNat(),
    kind: fc.constantFrom('normal' as const, 'config' as const),
    data: fc.uint8Array({ maxLength: 40 }),
  })
  .map((e) => ({ ...e })); // fc.record builds null-prototype objects; decoded ones are plain
const snapshot: fc.Arbitrary<Snapshot> = fc
  .record({
    index: fc.maxSafeNat(),
    term: fc.maxSafeNat(),
    config: fc
      .record({ voters: fc.array(nodeId, { maxLength: 5 }), learners: fc.array(nodeId, { maxLength: 3 }) })
      .map((c) => ({ ...c })),
    data: fc.uint8Array({ maxLength: 100 }),
  })
  .map((s) => ({ ...s }));
const networkMessage: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...NETWORK_TYPES),
    from: nodeId,
    to: nodeId,
    term: fc.maxSafeNat(),
    logTerm: fc.maxSafeNat(),
    index: fc.maxSafeNat(),
    entries: fc.array(entry, { maxLength: 4 }),
    commit: fc.maxSafeNat(),
    reject: fc.boolean(),
    rejectHint: fc.maxSafeNat(),
    context: fc.maxSafeNat(),
    transfer: fc.boolean(),
    snapshot,
  })
  .map(({ snapshot, ...fields }) => (fields.type === 'snapshot' ? { ...fields, snapshot } : fields));

describe('protocol: raft message codec', () => {
  it('round-trips a realistic message of every type sent between nodes', () => {
    for (const m of NETWORK_MESSAGES) assert.deepStrictEqual(decodeRaftMessage(encodeRaftMessage(m)), m, m.type);
  });

  it('round-trips the messages of one Ready as a batch, and an empty batch', () => {
    assert.deepStrictEqual(decodeRaftMessages(encodeRaftMessages(NETWORK_MESSAGES)), NETWORK_MESSAGES);
    assert.deepStrictEqual(decodeRaftMessages(encodeRaftMessages([])), []);
  });

  it('writes the documented layout (the test vector in docs/protocol.md)', () => {
    const hex = Buffer.from(encodeRaftMessage(HEARTBEAT)).toString('hex');
    assert.equal(
      hex,
      '010800' +
        '02006e31' +
        '02006e32' +
        '0500000000000000' +
        '0000000000000000' +
        '0000000000000000' +
        '0700000000000000' +
        '0000000000000000' +
        '0300000000000000' +
        '00000000',
    );
  });

  it('decodes entry and snapshot data as views of the input, without copying', () => {
    const encoded = encodeRaftMessages(NETWORK_MESSAGES);
    const [append, , , , , , snap] = decodeRaftMessages(encoded);
    for (const e of append!.entries) assert.equal(e.data.buffer, encoded.buffer);
    assert.equal(snap!.snapshot!.data.buffer, encoded.buffer);
  });

  it('hands out plain Uint8Arrays even when the input is a Node Buffer', () => {
    const decoded = decodeRaftMessage(Buffer.from(encodeRaftMessage(NETWORK_MESSAGES[0]!)));
    assert.deepStrictEqual(decoded, NETWORK_MESSAGES[0]);
    assert.equal(Object.getPrototypeOf(decoded.entries[1]!.data), Uint8Array.prototype);
  });

  it('refuses to encode local message types', () => {
    for (const type of LOCAL_TYPES) {
      throwsProtocolError(
        () => encodeRaftMessage(message({ type, from: 'n1', to: 'n2' })),
        new RegExp(`${type}: it is a local message`),
      );
      throwsProtocolError(() => encodeRaftMessages([NETWORK_MESSAGES[0]!, message({ type })]), /local message/);
    }
  });

  it('refuses to encode what it could not decode back', () => {
    for (const [field, value] of [
      ['term', -1],
      ['index', 1.5],
      ['commit', Number.NaN],
      ['context', 2 ** 53],
      ['rejectHint', Infinity],
    ] as const) {
      throwsProtocolError(
        () => encodeRaftMessage(message({ type: 'append', [field]: value })),
        new RegExp(`${field} ${String(value)} is not an integer`),
      );
    }
    throwsProtocolError(
      () => encodeRaftMessage(message({ type: 'append', entries: [{ ...ENTRIES[1]!, index: -5 }] })),
      /entry 0 index -5/,
    );
    throwsProtocolError(
      () => encodeRaftMessage(message({ type: 'append', entries: [{ ...ENTRIES[1]!, kind: 'bogus' as 'normal' }] })),
      /entry 0 kind "bogus"/,
    );
    throwsProtocolError(() => encodeRaftMessage(message({ type: 'snapshot' })), /snapshot: it has no snapshot/);
    throwsProtocolError(
      () => encodeRaftMessage(message({ type: 'append', snapshot: SNAPSHOT })),
      /only a snapshot message carries a snapshot/,
    );
    throwsProtocolError(
      () => encodeRaftMessage(message({ type: 'vote', from: 'n\ud800' })),
      /from .* is not well-formed/,
    );
    throwsProtocolError(
      () => encodeRaftMessage(message({ type: 'vote', to: 'x'.repeat(70_000) })),
      /does not fit a u16 length/,
    );
    throwsProtocolError(
      () =>
        encodeRaftMessage(
          message({
            type: 'snapshot',
            snapshot: { ...SNAPSHOT, config: { voters: Array(70_000).fill('n'), learners: [] } },
          }),
        ),
      /voter count 70000/,
    );
  });

  it('round-trips random messages, alone and in batches', () => {
    fc.assert(
      fc.property(networkMessage, (m) => {
        assert.deepStrictEqual(decodeRaftMessage(encodeRaftMessage(m)), m);
      }),
      { numRuns: 500, seed: 20240601 },
    );
    fc.assert(
      fc.property(fc.array(networkMessage, { maxLength: 8 }), (ms) => {
        assert.deepStrictEqual(decodeRaftMessages(encodeRaftMessages(ms)), ms);
      }),
      { numRuns: 200, seed: 20240602 },
    );
  });

  it('refuses every truncation of a message and of a batch with a ProtocolError', () => {
    for (const m of NETWORK_MESSAGES) {
      const encoded = encodeRaftMessage(m);
      // subarray, not slice: the bytes past the cut are still in the buffer and must not be read
      for (let length = 0; length < encoded.byteLength; length++)
        throwsProtocolError(() => decodeRaftMessage(encoded.subarray(0, length)), /truncated|needs at least/);
    }
    const batch = encodeRaftMessages(NETWORK_MESSAGES.slice(0, 8));
    for (let length = 0; length < batch.byteLength; length++)
      throwsProtocolError(() => decodeRaftMessages(batch.subarray(0, length)));
  });

  it('refuses trailing bytes after a message, inside a batch item and after a batch', () => {
    const encoded = encodeRaftMessage(HEARTBEAT);
    const padded = new Uint8Array(encoded.byteLength + 1);
    padded.set(encoded);
    throwsProtocolError(() => decodeRaftMessage(padded), /raft message heartbeat: 1 unexpected bytes/);

    const batch = encodeRaftMessages([HEARTBEAT]);
    const longItem = new Uint8Array(batch.byteLength + 2);
    longItem.set(batch);
    new DataView(longItem.buffer).setUint32(4, encoded.byteLength + 2, true);
    throwsProtocolError(() => decodeRaftMessages(longItem), /raft message 0 \(heartbeat\): 2 unexpected bytes/);

    const afterBatch = new Uint8Array(batch.byteLength + 3);
    afterBatch.set(batch);
    throwsProtocolError(() => decodeRaftMessages(afterBatch), /raft message batch: 3 unexpected bytes/);
  });

  it('names the field and the value it refuses', () => {
    const encoded = encodeRaftMessage(HEARTBEAT);
    throwsProtocolError(
      () => decodeRaftMessage(withByte(encoded, AT.version, 2)),
      /unknown codec version 2 \(expected 1\)/,
    );
    for (const code of [0, 14, 255])
      throwsProtocolError(
        () => decodeRaftMessage(withByte(encoded, AT.type, code)),
        new RegExp(`unknown type code ${code}$`),
      );
    throwsProtocolError(
      () => decodeRaftMessage(withByte(encoded, AT.flags, 0x09)),
      /heartbeat: flags 0x09 have unknown bits 0x08/,
    );
    throwsProtocolError(() => decodeRaftMessage(withByte(encoded, AT.flags, 0x04)), /heartbeat: snapshot flag is set/);
    throwsProtocolError(() => decodeRaftMessage(withByte(encoded, AT.type, 7)), /snapshot: snapshot flag is clear/);
    throwsProtocolError(
      () => decodeRaftMessage(withByte(encoded, AT.from + 2, 0xff)),
      /heartbeat from is not valid UTF-8/,
    );
    throwsProtocolError(
      () => decodeRaftMessage(withU32(encoded, AT.termHigh, 2 ** 21)),
      /heartbeat term 9007199254740997 at offset 11 is not below 2\^53/,
    );
    throwsProtocolError(
      () => decodeRaftMessage(withU32(encoded, AT.termHigh, 0xffffffff)),
      /term 18446744069414584325 /,
    );
    throwsProtocolError(
      () => decodeRaftMessage(withU32(encoded, AT.entryCount, 0xffffffff)),
      /heartbeat entry count 4294967295 needs at least/,
    );
    throwsProtocolError(
      () => decodeRaftMessages(withU32(encodeRaftMessages([HEARTBEAT]), 0, 1000)),
      /raft message count 1000 needs at least/,
    );

    const append = encodeRaftMessage(NETWORK_MESSAGES[0]!);
    const firstEntry = 3 + 4 + 4 + 48 + 4;
    throwsProtocolError(
      () => decodeRaftMessage(withByte(append, firstEntry + 16, 2)),
      /append entry 0: unknown kind code 2/,
    );
    throwsProtocolError(
      () => decodeRaftMessage(withU32(append, firstEntry + 17, 0x7fffffff)),
      /append entry 0 data needs 2147483647 bytes/,
    );
  });

  it('never throws anything but a ProtocolError on corrupted bytes', () => {
    fc.assert(
      fc.property(
        networkMessage,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (m, flips) => {
          const corrupted = encodeRaftMessage(m).slice();
          for (const [at, value] of flips) corrupted[at % corrupted.byteLength] = value;
          decodesOrProtocolError(() => decodeRaftMessage(corrupted));
        },
      ),
      { numRuns: 2000, seed: 20240603 },
    );
    fc.assert(
      fc.property(
        fc.array(networkMessage, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (ms, at, value) => {
          const corrupted = encodeRaftMessages(ms).slice();
          corrupted[at % corrupted.byteLength] = value;
          decodesOrProtocolError(() => decodeRaftMessages(corrupted));
        },
      ),
      { numRuns: 1000, seed: 20240604 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (random) => {
        decodesOrProtocolError(() => decodeRaftMessage(random));
        decodesOrProtocolError(() => decodeRaftMessages(random));
      }),
      { numRuns: 1000, seed: 20240605 },
    );
  });
});
