export * from './types.js';
export { RawNode, type Ready, type RaftStatus, type PeerProgress } from './raw-node.js';
export { DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS, type RaftOptions, type UnsafeRules } from './options.js';
export { MemoryStorage, EMPTY_HARD_STATE, emptySnapshot, type RaftStorage } from './storage.js';
export { ProposalDroppedError, ConfigChangeError, type DropReason } from './errors.js';
export {
  applyChange,
  applyChanges,
  leaveJoint,
  isJoint,
  encodeConfigEntry,
  decodeConfigEntry,
  type ConfigChange,
  type ConfigEntry,
} from './config-change.js';
export { seededRandom, type RandomSource } from './random.js';
export type { ProgressState } from './progress.js';
