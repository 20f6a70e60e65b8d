import type { MembershipChange, OrdoNode } from '../../node/index.js';
import { InvalidArgumentError, describe } from '../../types/errors.js';
import { readJsonBody } from '../http-json.js';
import { parsePeerAddress } from '../peer-transport.js';
import type { Route } from './route.js';

/**
 * GET /cluster, membership changes (POST/DELETE /cluster/members; POST takes one member or
 * `{ changes: [...] }`), leadership transfer (POST /cluster/leader).
 */
export function clusterRoutes(
  log: OrdoNode,
  peerUrls: Readonly<Record<string, string>> | undefined,
  maxBodyBytes: number,
): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['cluster'],
      operation: 'status',
      run: async () => ({ status: 200, body: { node: log.raftStatus(), peers: peerUrls ?? {} } }),
    },
    {
      method: 'POST',
      pattern: ['cluster', 'members'],
      operation: 'cluster',
      run: async ({ req }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { changes?: unknown } | null;
        // One member ({ id, role, address }), or several at once ({ changes: [...] }, where a
        // role may also be 'remove'): more than one voter changed goes through a joint config.
        const changes = Array.isArray(body?.changes)
          ? body.changes.map((change) => memberChange(change, true))
          : memberChange(body, false);
        const result = await log.changeMembership(changes);
        return { status: 200, body: { ...result, config: log.raftStatus().config } };
      },
    },
    {
      method: 'DELETE',
      pattern: ['cluster', 'members', ':id'],
      operation: 'cluster',
      run: async ({ params }) => {
        const result = await log.changeMembership({ type: 'remove', node: params.id! });
        return { status: 200, body: { ...result, config: log.raftStatus().config } };
      },
    },
    {
      method: 'POST',
      pattern: ['cluster', 'leader'],
      operation: 'cluster',
      run: async ({ req }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { id?: unknown } | null;
        if (typeof body?.id !== 'string') {
          throw new InvalidArgumentError(`invalid body ${describe(body)}: expected { "id": "n2" }`);
        }
        log.transferLeadership(body.id);
        return { status: 202, body: { transferringTo: body.id } };
      },
    },
  ];
}

const MEMBER_EXPECTED = '{ "id": "n4", "role": "learner" | "voter", "address": "host:port" }';

/** One member of a POST /cluster/members body, checked. */
function memberChange(value: unknown, mayRemove: boolean): MembershipChange {
  const { id, role = 'learner', address } = (value ?? {}) as { id?: unknown; role?: unknown; address?: unknown };
  if (typeof value !== 'object' || value === null || typeof id !== 'string' || id === '') {
    throw new InvalidArgumentError(`invalid member ${describe(value)}: expected ${MEMBER_EXPECTED}`);
  }
  const roles = mayRemove ? ['learner', 'voter', 'remove'] : ['learner', 'voter'];
  if (typeof role !== 'string' || !roles.includes(role)) {
    throw new InvalidArgumentError(
      `invalid role ${describe(role)}: expected ${roles.map((r) => `'${r}'`).join(' or ')}`,
    );
  }
  if (address !== undefined && (typeof address !== 'string' || !parsePeerAddress(address))) {
    throw new InvalidArgumentError(`invalid address ${describe(address)}: expected host:port (e.g. 10.0.0.4:4680)`);
  }
  if (role === 'remove') return { type: 'remove', node: id };
  const type = role === 'voter' ? 'add-voter' : 'add-learner';
  return address === undefined ? { type, node: id } : { type, node: id, address: address as string };
}
