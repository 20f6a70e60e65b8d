import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startServer, type OrdoServer } from '../../src/server/server.js';
import { freePorts } from '../support/free-ports.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const silent = pino({ level: 'silent' });

async function post(server: OrdoServer, body: unknown): Promise<number> {
  const response = await fetch(`${server.urls.http}/cluster/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.text();
  return response.status;
}

describe('joining a running cluster (in-process nodes)', () => {
  it('a node that knows one member is added with its address; the members reach it without a restart', async () => {
    // Given three nodes that know only each other
    const ports = await freePorts(8);
    const address = (i: number) => ({ host: '127.0.0.1', port: ports[i]! });
    const founders = { n1: address(0), n2: address(1), n3: address(2) };
    const servers = new Map<string, OrdoServer>();
    try {
      for (const [i, id] of ['n1', 'n2', 'n3'].entries()) {
        const dir = await tempDir(`ordo-join-${id}`);
        const cluster = { id, peers: founders, tickMs: 10 };
        servers.set(id, await startServer({ dir, port: ports[i]!, httpPort: ports[4 + i]!, logger: silent, cluster }));
      }
      const leaderId = () => [...servers].find(([, s]) => s.log.raftStatus().role === 'leader')?.[0];
      const leader = servers.get(await until('a leader', leaderId))!;
      await leader.log.append('s', { type: 'T', data: 1 });
      // When a fourth node starts knowing only itself and n1, outside the membership
      const n4 = await startServer({
        dir: await tempDir('ordo-join-n4'),
        port: ports[3]!,
        httpPort: ports[7]!,
        logger: silent,
        cluster: { id: 'n4', peers: { n4: address(3), n1: founders.n1 }, voters: ['n1'], tickMs: 10 },
      });
      servers.set('n4', n4);
      // And the leader adds it with its address, as a learner and then as a voter
      const where = `127.0.0.1:${ports[3]}`;
      assert.equal(await post(leader, { id: 'n4', role: 'learner', address: where }), 200);
      assert.equal(await post(leader, { id: 'n4', role: 'voter' }), 200);
      await leader.log.append('s', { type: 'T', data: 2 });
      // Then it catches up, and knows every member's address from the membership it applied
      const last = leader.log.raftStatus().commit;
      await until('n4 caught up', () => n4.log.raftStatus().applied >= last);
      const config = n4.log.raftStatus().config;
      assert.deepEqual(config.voters, ['n1', 'n2', 'n3', 'n4']);
      assert.deepEqual(config.addresses, {
        n1: `127.0.0.1:${ports[0]}`,
        n2: `127.0.0.1:${ports[1]}`,
        n3: `127.0.0.1:${ports[2]}`,
        n4: where,
      });
      let events = 0;
      for await (const _ of n4.log.readAll({ consistency: 'local' })) events++;
      assert.equal(events, 2);
      // And a bad address is refused up front
      assert.equal(await post(leader, { id: 'n5', address: 'nowhere' }), 400);
      // When two voters other than the leader are removed in one change
      const leaving = ['n1', 'n2', 'n3', 'n4'].filter((id) => id !== leaderId()).slice(0, 2);
      const changes = leaving.map((id) => ({ id, role: 'remove' }));
      assert.equal(await post(leader, { changes }), 200);
      // Then the cluster passes through a joint configuration and leaves it by itself
      const left = await until('the joint configuration left', () => {
        const now = leader.log.raftStatus().config;
        return now.voters.length === 2 && now.votersOutgoing === undefined && now;
      });
      assert.deepEqual(
        left.voters,
        ['n1', 'n2', 'n3', 'n4'].filter((id) => !leaving.includes(id)),
      );
      await leader.log.append('s', { type: 'T', data: 3 });
    } finally {
      for (const server of servers.values()) await server.close();
    }
  });
});
