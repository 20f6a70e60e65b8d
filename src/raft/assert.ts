import { invariantFailed } from '../types/invariant.js';

/**
 * A broken Raft invariant means a bug that would corrupt the log if the node went on: throw at
 * once with what was found (TigerBeetle style). Call sites test the condition themselves, so
 * the hot path builds no message.
 */
export function raftInvariantFailed(message: string): never {
  return invariantFailed(message, 'raft');
}
