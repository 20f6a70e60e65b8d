import type { OrdoNode, SnapshotFrame } from '../node/index.js';
import type { Frame } from '../protocol/frame.js';
import { readRequest } from '../protocol/requests.js';
import type { Message } from '../raft/index.js';
import { ProtocolError } from '../types/errors.js';
import { authorize, type Principal } from './auth.js';
import type { ConnectionSession } from './connection-session.js';
import type { ConnectionLimits } from './session-options.js';

/** HELLO's client name on a connection from another node of the cluster: `peer:<node id>`. */
export const PEER_CLIENT_PREFIX = 'peer:';

/**
 * A connection from another node of the cluster, carrying its Raft messages and snapshot
 * chunks to this node. It is one-way: this node answers over its own connection to the peer,
 * so nothing is answered here but the handshake.
 */
export class PeerSession implements ConnectionSession {
  readonly inFlight = 0;

  constructor(
    /** The node id the peer introduced itself as. */
    private readonly peer: string,
    private readonly principal: Principal,
    private readonly log: OrdoNode,
    private readonly limits: ConnectionLimits,
  ) {}

  onFrame(frame: Frame): void {
    const request = readRequest(frame, this.limits);
    if (request.op === 'raft') deliverRaft(this.principal, this.peer, request.messages, this.log);
    else if (request.op === 'snapshot') deliverRaft(this.principal, this.peer, [request.frame], this.log);
    else throw new ProtocolError(`a peer connection carries Raft traffic only, got ${request.op}`);
  }

  chunkDone(): void {}

  discardQueued(): void {}

  drain(): undefined {
    return undefined;
  }

  stop(): void {}

  closed(): void {}

  drained(): void {}
}

/**
 * Hands a peer's Raft messages to the log. Only a connection that introduced itself as that
 * node (`peer` undefined on a client connection), with an admin token, may send them, and
 * only messages addressed to this node are taken.
 */
export function deliverRaft(
  principal: Principal,
  peer: string | undefined,
  messages: Array<Message | SnapshotFrame>,
  log: OrdoNode,
): void {
  authorize(principal, 'raft');
  for (const m of messages) {
    if (m.from !== peer) {
      const connection = JSON.stringify(peer ?? '(not a peer)');
      throw new ProtocolError(`a raft message from ${JSON.stringify(m.from)} on the connection of peer ${connection}`);
    }
    if (m.to !== log.nodeId) continue;
    log.deliver(m);
  }
}
