import type { NodeId } from './types.js';

export type DropReason = 'not-leader' | 'transferring' | 'config-pending' | 'joint-config' | 'removed' | 'empty';

/**
 * The state machine did not take a proposal. `leader` is who the proposer should try instead
 * (NONE when no leader is known): the node layer turns this into Ordo's NOT_LEADER error.
 */
export class ProposalDroppedError extends Error {
  readonly code = 'PROPOSAL_DROPPED';
  constructor(
    readonly reason: DropReason,
    readonly leader: NodeId,
    detail: string,
  ) {
    super(`proposal dropped (${reason}): ${detail}`);
    this.name = 'ProposalDroppedError';
  }
}

/**
 * A membership change that cannot be made as asked (no change, a node named twice, no voter
 * left, or one made while a joint configuration is not yet left).
 */
export class ConfigChangeError extends Error {
  readonly code = 'INVALID_CONFIG_CHANGE';
  constructor(
    readonly changes: readonly unknown[],
    readonly expected: string,
  ) {
    super(`membership change ${JSON.stringify(changes)} refused: expected ${expected}`);
    this.name = 'ConfigChangeError';
  }
}
