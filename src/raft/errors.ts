import type { NodeId } from './types.js';

export type DropReason = 'not-leader' | 'transferring' | 'config-pending' | 'removed' | 'empty';

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
