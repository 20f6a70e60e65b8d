export * from './segmented-log.js';
export * from './fsync-policy.js';
export * from './record.js';
export * from './segment-file.js';
export { crc32c } from './crc.js';
export { writeFileAtomic, syncDirectory } from './file-io.js';
export { lockDirectory } from './dir-lock.js';
export { nodeFileSystem, type FileHandle, type FileStats, type FileSystem } from './file-system.js';
export { monotonicClock, realTimers, systemClock, type Clock, type IntervalTimers } from './time.js';
