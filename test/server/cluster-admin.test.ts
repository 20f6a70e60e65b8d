import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { connect } from '../../src/client/index.js';
import { startServer, type OrdoServer } from '../../src/server/server.js';
import { freePorts } from '../support/free-ports.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const silent = pino({ level: 'silent' });

async function post(
  server: OrdoServer,
  path: string,
  body: unknown,
  method = 'POST',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.urls.http}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(method === 'DELETE' ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('cluster administration over the HTTP API (in-process nodes)', () => {
  it('add a learner that catches up and is promoted, refuse on a follower with the leader named, transfer leadership, remove the leader', async () => {
    const ports = await freePorts(8);
    const ids = ['n1', 'n2', 'n3', 'n4'];
    const peers = Object.fromEntries(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i]! }]));
    const servers = new Map<string, OrdoServer>();
    for (const [i, id] of ids.entries()) {
      servers.set(
        id,
        await startServer({
          dir: await tempDir(`ordo-admin-${id}`),
          port: ports[i]!,
          httpPort: ports[4 + i]!,
          logger: silent,
          cluster: { id, peers, voters: ['n1', 'n2', 'n3'], tickMs: 10 },
        }),
      );
    }
    const leaderId = (): string | undefined =>
      [...servers].find(([, s]) => !s.log.closed && s.log.raftStatus().role === 'leader')?.[0];
    const first = await until('a leader', leaderId);
    assert.notEqual(first, 'n4', 'a node outside the membership never leads');
    const leader = servers.get(first)!;
    const client = await connect(ids.map((id) => `ordo://127.0.0.1:${peers[id]!.port}`));
    for (let i = 0; i < 10; i++) await client.append('s', { type: 'T', data: i });
    // Reads through the client: linearizable by default, 'local' on request, anything else refused.
    const linearizable = [];
    for await (const event of client.read('s')) linearizable.push(event.index);
    assert.equal(linearizable.length, 10);
    assert.equal(await client.count('s'), 10);
    let local = 0;
    for await (const _ of client.readAll({ consistency: 'local' })) local++;
    assert.ok(local <= 10);
    assert.throws(
      () => client.read('s', { consistency: 'eventual' as never }),
      /invalid consistency "eventual": expected 'linearizable' or 'local'/,
    );
    assert.throws(() => client.readAll({ minPosition: -1 }), /minPosition/);
    const written = await client.append('s', { type: 'T', data: 10 });
    const upTo = [];
    for await (const event of client.readAll({ consistency: 'local', minPosition: written.position }))
      upTo.push(event.position);
    assert.equal(upTo[upTo.length - 1], written.position, 'read-your-writes with the position the append returned');

    const follower = [...servers].find(([id]) => id !== first && id !== 'n4')![1];
    const refused = await post(follower, '/cluster/members', { id: 'n4' });
    assert.equal(refused.status, 421);
    assert.equal((refused.json.error as { code: string }).code, 'NOT_LEADER');
    assert.equal((refused.json.error as { leaderUrl: string }).leaderUrl, `ordo://127.0.0.1:${peers[first]!.port}`);

    const bad = await post(leader, '/cluster/members', { id: 'n4', role: 'boss' });
    assert.equal(bad.status, 400);
    assert.match((bad.json.error as { message: string }).message, /invalid role "boss"/);

    const added = await post(leader, '/cluster/members', { id: 'n4' });
    assert.equal(added.status, 200, JSON.stringify(added.json));
    assert.deepEqual((added.json.config as { learners: string[] }).learners, ['n4']);
    const n4 = servers.get('n4')!;
    await until('n4 to catch up', () => n4.log.committedPosition >= 10);
    assert.equal(n4.log.raftStatus().role, 'follower');
    const promoted = await post(leader, '/cluster/members', { id: 'n4', role: 'voter' });
    assert.deepEqual((promoted.json.config as { voters: string[] }).voters, ['n1', 'n2', 'n3', 'n4']);
    await until('every node to see four voters', () =>
      [...servers.values()].every((s) => s.log.raftStatus().config.voters.length === 4),
    );

    const moved = await post(leader, '/cluster/leader', { id: 'n4' });
    assert.equal(moved.status, 202);
    await until('n4 to lead', () => leaderId() === 'n4');
    await client.append('s', { type: 'after-transfer' });

    const removed = await post(n4, '/cluster/members/n4', undefined, 'DELETE');
    assert.equal(removed.status, 200, JSON.stringify(removed.json));
    const next = await until('a leader among n1–n3', () => {
      const id = leaderId();
      return id !== undefined && id !== 'n4' ? id : undefined;
    });
    assert.deepEqual(servers.get(next)!.log.raftStatus().config.voters, ['n1', 'n2', 'n3']);
    const result = await client.append('s', { type: 'after-removal' });
    assert.equal(result.index, 12);
    await client.close();
    for (const server of servers.values()) await server.close();
  });

  it('a node added after the log has left every window gets a snapshot over TCP: the segments it lacks, byte for byte', async () => {
    const ports = await freePorts(8);
    const ids = ['n1', 'n2', 'n3', 'n4'];
    const peers = Object.fromEntries(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i]! }]));
    const dirs = new Map(await Promise.all(ids.map(async (id) => [id, await tempDir(`ordo-snap-tcp-${id}`)] as const)));
    const servers = new Map<string, OrdoServer>();
    const start = async (id: string, i: number) =>
      servers.set(
        id,
        await startServer({
          dir: dirs.get(id)!,
          port: ports[i]!,
          httpPort: ports[4 + i]!,
          logger: silent,
          cluster: { id, peers, voters: ['n1', 'n2', 'n3'], tickMs: 10, windowEntries: 8 },
        }),
      );
    for (const [i, id] of ids.slice(0, 3).entries()) await start(id, i);
    const client = await connect(ids.slice(0, 3).map((id) => `ordo://127.0.0.1:${peers[id]!.port}`));
    // 300 entries of 8 KiB: 2.4 MiB, three chunks, long gone from the 8-entry windows.
    for (let i = 0; i < 300; i++)
      await client.append(`s-${i % 3}`, { type: 'T', data: { i, pad: 'y'.repeat(8 * 1024) } });
    await start('n4', 3);
    const leader = await until('a leader', () =>
      [...servers.values()].find((s) => s.log.raftStatus().role === 'leader'),
    );
    assert.ok(leader.log.raftStatus().firstIndex > 100);
    const added = await post(leader, '/cluster/members', { id: 'n4' });
    assert.equal(added.status, 200, JSON.stringify(added.json));
    const n4 = servers.get('n4')!;
    await until('n4 to catch up', () => n4.log.committedPosition >= 299, 20_000);
    assert.equal(await n4.log.count('s-1'), 100);
    await until(
      "n4 at the leader's commit",
      () =>
        n4.log.raftStatus().applied === leader.log.raftStatus().commit &&
        [...servers.values()].every((s) => s.log.raftStatus().lastIndex === leader.log.raftStatus().lastIndex),
    );
    await client.close();
    for (const server of servers.values()) await server.close();
    const segments = async (dir: string) => {
      const names = (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort();
      return Buffer.concat(await Promise.all(names.map((n) => readFile(join(dir, 'segments', n)))));
    };
    const [a, d] = await Promise.all([segments(dirs.get('n1')!), segments(dirs.get('n4')!)]);
    assert.ok(a.equals(d), 'n4 holds the same log as n1');
  });

  it('--advertise: NOT_LEADER sends clients to the URL a node is advertised under, not its peer address', async () => {
    const ports = await freePorts(6);
    const ids = ['n1', 'n2', 'n3'];
    const peers = Object.fromEntries(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i]! }]));
    const advertise = Object.fromEntries(ids.map((id) => [id, `ordo://${id}.example:4680`]));
    const servers = await Promise.all(
      ids.map(async (id, i) =>
        startServer({
          dir: await tempDir(`ordo-advertise-${id}`),
          port: ports[i]!,
          httpPort: ports[3 + i]!,
          logger: silent,
          cluster: { id, peers, tickMs: 10, advertise },
        }),
      ),
    );
    const leader = await until('a leader', () => servers.find((s) => s.log.raftStatus().role === 'leader'));
    const follower = servers.find((s) => s !== leader)!;
    const refused = await post(follower, '/streams/s', [{ type: 'T' }]);
    assert.equal(refused.status, 421);
    assert.equal((refused.json.error as { leaderUrl: string }).leaderUrl, `ordo://${leader.log.nodeId}.example:4680`);
    for (const server of servers) await server.close();
  });
});
