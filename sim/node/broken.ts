import { posix } from 'node:path';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/engine/checkpoint.js';
import { DEFAULT_ID_WINDOW } from '../../src/engine/id-window.js';
import { RetryKeys } from '../../src/engine/retry-keys.js';
import { Lifecycles } from '../../src/engine/lifecycle.js';
import type { EngineState } from '../../src/engine/state.js';
import type { OrdoNode } from '../../src/node/index.js';
import { crc32c } from '../../src/storage/crc.js';
import type { FileHandle, FileSystem } from '../../src/storage/file-system.js';
import { checkBatch } from '../../src/storage/record.js';
import { SEGMENT_HEADER_BYTES } from '../../src/storage/segment-file.js';
import { StorageFailedError, UnknownOutcomeError } from '../../src/types/errors.js';

/**
 * Deliberately broken nodes, each bringing back one rule a correct node must not follow, to
 * show the simulator catches it. Each is made on the simulator's side (a file system or an
 * answer the node sees or gives through a wrapper), never by a switch in the node:
 * - `ack-before-fsync`: every node runs with `fsync: 'never'` (an append is acknowledged, and a
 *   follower answers the leader, before any fdatasync);
 * - `checkpoint-without-lifecycles`: checkpoints are written without the streams' metadata,
 *   deletions and tombstones, so a node reopened from one forgets those its checkpoint covers;
 * - `checkpoint-without-retry-keys`: checkpoints are written without the clients' retry keys,
 *   so a reopened node forgets the keys of the events its checkpoint covers, and an append a
 *   client re-sends after the restart is written a second time;
 * - `eio-fails-appends`: a node whose fdatasync failed answers its pending appends with the
 *   definite STORAGE_FAILED instead of UNKNOWN_OUTCOME, though their entries may be committed
 *   (by the followers) or read back after a restart;
 * - `bad-length-is-torn`: recovery cuts the newest segment at the first batch whose length is
 *   out of range or runs past the end of the file, as if it were a torn tail, wherever it sits
 *   (the intact batches after it are lost, and the node is not marked recovering);
 * - `commit-beyond-log-lowered`: a persisted commit index beyond the log's end is quietly
 *   lowered to the log's end instead of marking the node recovering.
 */
export type BrokenRule =
  | 'ack-before-fsync'
  | 'checkpoint-without-lifecycles'
  | 'checkpoint-without-retry-keys'
  | 'eio-fails-appends'
  | 'bad-length-is-torn'
  | 'commit-beyond-log-lowered';

export const BROKEN_RULES: readonly BrokenRule[] = [
  'ack-before-fsync',
  'checkpoint-without-lifecycles',
  'checkpoint-without-retry-keys',
  'eio-fails-appends',
  'bad-length-is-torn',
  'commit-beyond-log-lowered',
];

const CHECKPOINT_TEMPORARY_SUFFIX = '.ckpt.tmp';
const CHECKPOINT_HEADER_BYTES = 8;
const RAFT_STATE_TEMPORARY = 'raft-state.tmp';
const SEGMENT_SUFFIX = '.seg';
/** The reason open-log.ts gives when the persisted commit index is beyond the log. */
const COMMIT_BEYOND_LOG = /^raft-state says entries up to \d+ are committed but the log ends at \d+$/;

/** The node's file system as `rule` sees it (the disk itself for the rules not about files). */
export function brokenFileSystem(rule: BrokenRule | undefined, fs: FileSystem): FileSystem {
  if (rule === 'checkpoint-without-retry-keys')
    return rewritingWrites(fs, CHECKPOINT_TEMPORARY_SUFFIX, (file) => reencoded(file, { keys: new RetryKeys() }));
  if (rule === 'checkpoint-without-lifecycles')
    return rewritingWrites(fs, CHECKPOINT_TEMPORARY_SUFFIX, (file) =>
      reencoded(file, { lifecycles: new Lifecycles() }),
    );
  if (rule === 'commit-beyond-log-lowered') return rewritingWrites(fs, RAFT_STATE_TEMPORARY, withoutCommitBeyondLog);
  if (rule === 'bad-length-is-torn') return { ...bound(fs), readFile: (path) => readCuttingBadLength(fs, path) };
  return fs;
}

/** The node's answers as `rule` gives them. */
export function brokenAnswers(rule: BrokenRule | undefined, log: OrdoNode): OrdoNode {
  if (rule !== 'eio-fails-appends') return log;
  const definite = (outcome: unknown) =>
    outcome instanceof UnknownOutcomeError && outcome.cause instanceof StorageFailedError ? outcome.cause : outcome;
  return new Proxy(log, {
    get(target, key) {
      if (key === 'write')
        return (requests: Parameters<OrdoNode['write']>[0]) =>
          target.write(requests).then(
            (outcomes) => outcomes.map(definite) as Awaited<ReturnType<OrdoNode['write']>>,
            (error: unknown) => {
              throw definite(error);
            },
          );
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function bound(fs: FileSystem): FileSystem {
  return {
    open: (path, flags) => fs.open(path, flags),
    mkdir: (path, options) => fs.mkdir(path, options),
    readdir: (path) => fs.readdir(path),
    readFile: (path) => fs.readFile(path),
    rename: (from, to) => fs.rename(from, to),
    unlink: (path) => fs.unlink(path),
    rm: (path, options) => fs.rm(path, options),
    stat: (path) => fs.stat(path),
  };
}

/** `fs`, with every whole-file write to a file named `…suffix` passed through `rewrite`. */
function rewritingWrites(fs: FileSystem, suffix: string, rewrite: (bytes: Buffer) => Buffer): FileSystem {
  return {
    ...bound(fs),
    open: async (path, flags) => {
      const handle = await fs.open(path, flags);
      if (!path.endsWith(suffix)) return handle;
      return rewritingHandle(handle, rewrite);
    },
  };
}

function rewritingHandle(handle: FileHandle, rewrite: (bytes: Buffer) => Buffer): FileHandle {
  return {
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    write: async (buffer, offset = 0, length = buffer.byteLength - offset, position) => {
      const bytes = rewrite(Buffer.from(buffer.subarray(offset, offset + length)));
      await handle.write(bytes, 0, bytes.length, position);
      return { bytesWritten: length };
    },
    writev: (buffers, position) => handle.writev(buffers, position),
    writeFile: (data) => handle.writeFile(data),
    datasync: () => handle.datasync(),
    sync: () => handle.sync(),
    truncate: (length) => handle.truncate(length),
    close: () => handle.close(),
  };
}

/** A checkpoint file ("ORDK" | crc32c | payload) re-encoded with a part of the state replaced by an empty one. */
function reencoded(file: Buffer, emptied: Partial<EngineState>): Buffer {
  const payload = file.subarray(CHECKPOINT_HEADER_BYTES);
  const state = decodeCheckpoint(payload, DEFAULT_ID_WINDOW);
  const stripped = encodeCheckpoint({ ...state, ...emptied }, state.nextPosition - 1);
  const header = Buffer.alloc(CHECKPOINT_HEADER_BYTES);
  header.write('ORDK', 0, 'latin1');
  header.writeUInt32LE(crc32c(stripped), 4);
  return Buffer.concat([header, stripped]);
}

/** A raft-state file (crc32c | JSON) without the recovering mark a commit index beyond the log set. */
function withoutCommitBeyondLog(file: Buffer): Buffer {
  const value = JSON.parse(file.toString('utf8', 4)) as { recovering?: string | undefined };
  if (value.recovering === undefined) return file;
  const reasons = value.recovering.split('; ').filter((reason) => !COMMIT_BEYOND_LOG.test(reason));
  value.recovering = reasons.length > 0 ? reasons.join('; ') : undefined;
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const bytes = Buffer.alloc(4 + json.length);
  json.copy(bytes, 4);
  bytes.writeUInt32LE(crc32c(bytes.subarray(4)), 0);
  return bytes;
}

/**
 * Reads `path`; the newest segment is first cut, on the disk, at its first batch whose length
 * is out of range or runs past the end of the file, as the broken recovery did.
 */
async function readCuttingBadLength(fs: FileSystem, path: string): Promise<Buffer> {
  const bytes = await fs.readFile(path);
  if (!path.endsWith(SEGMENT_SUFFIX)) return bytes;
  const segments = (await fs.readdir(posix.dirname(path))).filter((name) => name.endsWith(SEGMENT_SUFFIX)).sort();
  if (segments[segments.length - 1] !== posix.basename(path)) return bytes;
  const cut = firstBadLength(bytes);
  if (cut === undefined) return bytes;
  const handle = await fs.open(path, 'r+');
  try {
    await handle.truncate(cut);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return bytes.subarray(0, cut);
}

/** Offset of the first batch whose length is out of range or runs past the end, if any. */
function firstBadLength(bytes: Buffer): number | undefined {
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < bytes.length) {
    const check = checkBatch(bytes, offset, bytes.length);
    if (check.kind === 'incomplete' || (check.kind === 'corrupt' && check.reason.startsWith('batch length ')))
      return offset;
    if (check.kind !== 'batch') return undefined;
    offset = check.end;
  }
  return undefined;
}
