import type { OrdoNode } from '../../node/index.js';
import { InvalidArgumentError, describe } from '../../types/errors.js';
import { readJsonBody } from '../http-json.js';
import { parsePeerAddress } from '../peer-transport.js';
import type { Route } from './route.js';

/** GET /cluster, membership changes (POST/DELETE /cluster/members), leadership transfer (POST /cluster/leader). */
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
        const body = (await readJsonBody(req, maxBodyBytes)) as {
          id?: unknown;
          role?: unknown;
          address?: unknown;
        } | null;
        const id = body?.id;
        const role = body?.role ?? 'learner';
        const address = body?.address;
        if (typeof id !== 'string' || id === '') {
          const expected = '{ "id": "n4", "role": "learner" | "voter", "address": "host:port" }';
          throw new InvalidArgumentError(`invalid member ${describe(body)}: expected ${expected}`);
        }
        if (role !== 'learner' && role !== 'voter') {
          throw new InvalidArgumentError(`invalid role ${describe(role)}: expected 'learner' or 'voter'`);
        }
        if (address !== undefined && (typeof address !== 'string' || !parsePeerAddress(address))) {
          throw new InvalidArgumentError(
            `invalid address ${describe(address)}: expected host:port (e.g. 10.0.0.4:4680)`,
          );
        }
        const type = role === 'voter' ? 'add-voter' : 'add-learner';
        const result = await log.changeMembership(
          address === undefined ? { type, node: id } : { type, node: id, address: address as string },
        );
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
