import type { OrdoNode } from '../../node/index.js';
import type { Route } from './route.js';

/**
 * GET /health: no token needed, so load balancers and probes can ask. 503 once shutting down
 * or stopped on a failed fdatasync (it serves nothing until restarted); a full disk is still
 * healthy for reads, and says so in `writes`.
 */
export function healthRoutes(log: OrdoNode, isClosing: () => boolean): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['health'],
      operation: 'health',
      run: async () => {
        if (isClosing() || log.closed) return { status: 503, body: { status: 'closing' } };
        const writes = log.metrics().writeState;
        if (writes === 'stopped')
          return { status: 503, body: { status: 'stopped', reason: log.status().writes.reason } };
        const raft = log.raftStatus();
        const { id, role, term, commit } = raft;
        const node = { id, role, term, leader: raft.leader || null, commit };
        return { status: 200, body: { status: 'ok', writes, headPosition: log.committedPosition, node } };
      },
    },
  ];
}
