import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RandomSource } from '../src/raft/index.js';

/** The segment file's header: a segment is created whole, header first, so it is never torn. */
const SEGMENT_HEADER_BYTES = 24;
/** A batch's prefix: u32 body length, u32 checksum. */
const BATCH_PREFIX_BYTES = 8;
const BITS_PER_BYTE = 8;

/** A node's segment files, oldest first. */
async function segmentFiles(dir: string): Promise<string[]> {
  const names = (await readdir(join(dir, 'segments'))).filter((name) => name.endsWith('.seg')).sort();
  return names.map((name) => join(dir, 'segments', name));
}

/** Byte offsets of the whole batches of a segment file, in order. */
function batchOffsets(bytes: Buffer): number[] {
  const offsets: number[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at + BATCH_PREFIX_BYTES <= bytes.length) {
    const end = at + BATCH_PREFIX_BYTES + bytes.readUInt32LE(at);
    if (end > bytes.length) break;
    offsets.push(at);
    at = end;
  }
  return offsets;
}

/**
 * A write in flight when the power went: the first `bytes` bytes of a batch (a copy of the
 * segment's first one) after the last whole batch of the active segment. Nothing written there
 * was acknowledged, so recovery must cut it and the node must take part in elections as before.
 * Returns the bytes added (0 when the segment holds no batch yet).
 */
export async function tearTail(dir: string, bytes: number): Promise<number> {
  const file = (await segmentFiles(dir)).at(-1);
  if (file === undefined) return 0;
  const content = await readFile(file);
  const first = batchOffsets(content)[0];
  if (first === undefined) return 0;
  const batchBytes = BATCH_PREFIX_BYTES + content.readUInt32LE(first);
  const torn = content.subarray(first, first + Math.min(bytes, batchBytes - 1));
  await appendFile(file, torn);
  return torn.length;
}

/**
 * Bit rot in acknowledged data: one bit flipped in a batch that has a whole batch after it in
 * its segment (a damaged last batch with nothing after it can look like a torn write; see
 * docs/reliability.md). Returns where, or undefined when no segment has two batches yet.
 */
export async function flipBit(dir: string, random: RandomSource): Promise<string | undefined> {
  const files = await segmentFiles(dir);
  for (let tries = 0; tries < files.length; tries++) {
    const file = files[random.int(files.length)]!;
    const content = await readFile(file);
    const offsets = batchOffsets(content);
    if (offsets.length < 2) continue;
    const batch = random.int(offsets.length - 1);
    const start = offsets[batch]!;
    const at = start + random.int(offsets[batch + 1]! - start);
    const bit = random.int(BITS_PER_BYTE);
    content[at] = content[at]! ^ (1 << bit);
    await writeFile(file, content);
    return `${file.slice(dir.length + 1)} byte ${at} bit ${bit} (batch ${batch + 1} of ${offsets.length})`;
  }
  return undefined;
}
