import type { OrdoNode } from '../../node/index.js';
import type { Route } from './route.js';

/**
 * GET /storage: this node's segments (and where retention made the log start), the background
 * scrub of the sealed ones, with every damaged batch found and what to do about it, and
 * scavenging (`ordo status --http`; admin scope, like /cluster).
 */
export function storageRoutes(log: OrdoNode): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['storage'],
      operation: 'status',
      run: async () => {
        const status = log.status();
        const body = {
          node: log.nodeId,
          headPosition: status.headPosition,
          firstPosition: status.firstPosition,
          segments: status.segments.length,
          scrub: status.scrub,
          scavenge: status.scavenge,
        };
        return { status: 200, body };
      },
    },
  ];
}
