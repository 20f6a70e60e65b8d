import { FrameType, REQUEST_RESENT } from '../protocol/constants.js';

/** How requests leave the client: every request of one turn in one write, and re-sent writes flagged as such. */

/** Runs `callback` after the current turn's microtasks: every request made in this turn goes out in one write. */
const nodeProcess = (globalThis as { process?: { nextTick?: (callback: () => void) => void } }).process;
export const scheduleTurnEnd: (callback: () => void) => void =
  typeof nodeProcess?.nextTick === 'function'
    ? (callback) => nodeProcess.nextTick!(callback)
    : (callback) => queueMicrotask(callback);

/** Flags a write request as re-sent, so the server looks up its retry keys (docs/protocol.md). */
export function markResent(frame: Uint8Array): void {
  const type = frame[FRAME_TYPE_OFFSET];
  if (type !== undefined && RETRIED_WRITES.has(type)) frame[FRAME_FLAGS_OFFSET]! |= REQUEST_RESENT;
}

/** The writes that carry retry keys: each answers a re-send with the original's result. */
const RETRIED_WRITES: ReadonlySet<number> = new Set([
  FrameType.APPEND,
  FrameType.APPEND_MANY,
  FrameType.EXISTS_OR_WRITE,
  FrameType.SET_METADATA,
  FrameType.DELETE_STREAM,
]);

const FRAME_TYPE_OFFSET = 4;
const FRAME_FLAGS_OFFSET = 5;
