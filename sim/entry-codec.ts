/**
 * The simulator's entry payload: one batch of events, as the real node's will be (a Raft entry
 * is a batch; its events get consecutive positions from `position`). JSON keeps it readable
 * in a failure dump; the real node uses the on-disk batch format instead.
 */
export interface SimEvent {
  readonly stream: string;
  readonly index: number;
  readonly id: string;
}

export interface SimBatch {
  /** Position of the first event. */
  readonly position: number;
  readonly timestamp: number;
  readonly events: readonly SimEvent[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeBatch(batch: SimBatch): Uint8Array {
  return encoder.encode(
    JSON.stringify([batch.position, batch.timestamp, batch.events.map((e) => [e.stream, e.index, e.id])]),
  );
}

/** An empty entry (a new leader's no-op) holds no events. */
export function decodeBatch(data: Uint8Array): SimBatch | undefined {
  if (data.byteLength === 0) return undefined;
  const [position, timestamp, events] = JSON.parse(decoder.decode(data)) as [
    number,
    number,
    Array<[string, number, string]>,
  ];
  return { position, timestamp, events: events.map(([stream, index, id]) => ({ stream, index, id })) };
}

/** 53-bit FNV-style mix of a byte string into a running hash: the log-matching hash chain. */
export function chainHash(previous: number, term: number, index: number, data: Uint8Array): number {
  let h1 = (previous ^ 0x811c9dc5) >>> 0;
  let h2 = (Math.floor(previous / 0x1_0000_0000) ^ 0x01000193) >>> 0;
  const mix = (byte: number): void => {
    h1 = Math.imul(h1 ^ byte, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ byte, 0x5bd1e995) >>> 0;
  };
  for (const value of [term, index]) {
    for (let k = 0; k < 6; k++) mix(Math.floor(value / 2 ** (8 * k)) & 0xff);
  }
  for (let i = 0; i < data.byteLength; i++) mix(data[i]!);
  return (h2 & 0x1fffff) * 0x1_0000_0000 + h1;
}
