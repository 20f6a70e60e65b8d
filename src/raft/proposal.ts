import { ProposalDroppedError } from './errors.js';
import { NONE, type EntryKind, type NodeId, type Role } from './types.js';

/** What a node knows when it is asked to take proposals. */
export interface ProposalContext {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId;
  /** Whether the node is still in the membership. */
  member: boolean;
  leadTransferee: NodeId;
  /** The index of the last config change proposed; no new one until it is applied. */
  pendingConfigIndex: number;
  /** In a joint configuration: no new change until the entry that leaves it is applied. */
  joint: boolean;
  applied: number;
  /** Whether the leader committed an entry of its own term (asked only for config changes). */
  committedInTerm: () => boolean;
}

/** Throws ProposalDroppedError, with the reason, when the node cannot take these entries now. */
export function checkProposal(entries: ReadonlyArray<{ kind: EntryKind }>, node: ProposalContext): void {
  if (entries.length === 0) throw new ProposalDroppedError('empty', node.leader, 'no entries');
  if (node.role !== 'leader')
    throw new ProposalDroppedError('not-leader', node.leader, `${node.id} is ${node.role} in term ${node.term}`);
  if (!node.member) throw new ProposalDroppedError('removed', NONE, `${node.id} is no longer a member`);
  if (node.leadTransferee !== NONE)
    throw new ProposalDroppedError(
      'transferring',
      node.leadTransferee,
      `leadership is moving to ${node.leadTransferee}`,
    );
  for (const entry of entries) {
    if (entry.kind !== 'config') continue;
    if (node.joint) {
      throw new ProposalDroppedError(
        'joint-config',
        node.leader,
        'the membership is joint until the entry that leaves it is applied',
      );
    }
    if (node.pendingConfigIndex > node.applied) {
      throw new ProposalDroppedError(
        'config-pending',
        node.leader,
        `config change at ${node.pendingConfigIndex} not applied yet (applied ${node.applied})`,
      );
    }
    if (!node.committedInTerm()) {
      throw new ProposalDroppedError(
        'config-pending',
        node.leader,
        `leader has not committed an entry of term ${node.term} yet`,
      );
    }
    if (entries.filter((e) => e.kind === 'config').length > 1)
      throw new ProposalDroppedError('config-pending', node.leader, 'one config change at a time');
  }
}
