import { join } from 'node:path';
import { crc32c } from '../storage/crc.js';
import { writeFileAtomic } from '../storage/file-io.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { CorruptLogError } from '../types/errors.js';
import type { ConfigState, HardState } from '../raft/index.js';

/**
 * What Raft must remember across restarts besides the log: the term, the vote cast in it (so
 * a node never votes twice in a term), the commit index (a hint; it is clamped to the log), and
 * the membership as of the last applied change. One small file, replaced atomically (written
 * aside, fsynced, renamed): a crash leaves the old state or the new, never a mix.
 *
 * Layout: u32 crc32c of the rest | UTF-8 JSON { version, term, vote, commit, config, configIndex,
 * recovering? }. `recovering` (why) is set while the node recovers entries it had persisted
 * and lost (raft/types.ts HardState); it is written before the log is cut, so a crash in
 * between cannot forget it.
 */
export interface RaftState {
  hardState: HardState;
  config: ConfigState;
  /** Entry index of the membership change `config` comes from (0: the initial membership). */
  configIndex: number;
  /** The node this directory belongs to (a node's term and vote are its own, never another's). */
  nodeId?: string;
}

const FILE = 'raft-state';
const VERSION = 1;

export async function loadRaftState(dir: string, fs: FileSystem = nodeFileSystem): Promise<RaftState | undefined> {
  const file = join(dir, FILE);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== crc32c(bytes.subarray(4))) {
    // Never guess a term or a vote: a node that forgot its vote could vote twice in one term.
    throw new CorruptLogError(
      file,
      0,
      'raft state checksum mismatch (the term and vote cannot be trusted; restore this node from a peer)',
    );
  }
  const value = JSON.parse(bytes.toString('utf8', 4)) as {
    version: number;
    term: number;
    vote: string;
    commit: number;
    config: ConfigState;
    configIndex: number;
    nodeId?: string;
    recovering?: string;
  };
  if (value.version !== VERSION)
    throw new CorruptLogError(file, 4, `raft state version ${value.version}, expected ${VERSION}`);
  return {
    hardState: {
      term: value.term,
      vote: value.vote,
      commit: value.commit,
      ...(value.recovering !== undefined ? { recovering: value.recovering } : {}),
    },
    config: value.config,
    configIndex: value.configIndex,
    ...(value.nodeId ? { nodeId: value.nodeId } : {}),
  };
}

export async function saveRaftState(dir: string, state: RaftState, fs: FileSystem = nodeFileSystem): Promise<void> {
  const json = Buffer.from(
    JSON.stringify({
      version: VERSION,
      nodeId: state.nodeId,
      term: state.hardState.term,
      vote: state.hardState.vote,
      commit: state.hardState.commit,
      config: state.config,
      configIndex: state.configIndex,
      recovering: state.hardState.recovering,
    }),
    'utf8',
  );
  const bytes = Buffer.alloc(4 + json.length);
  json.copy(bytes, 4);
  bytes.writeUInt32LE(crc32c(bytes.subarray(4)), 0);
  await writeFileAtomic(join(dir, FILE), bytes, fs);
}
