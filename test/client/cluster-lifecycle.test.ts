import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { connect } from '../../src/client/index.js';
import { startServer } from '../../src/server/server.js';
import { freePorts } from '../support/free-ports.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

describe('connect() to a follower: stream lifecycle changes', () => {
  it('a metadata change and a deletion sent to a follower are taken to the leader; every node then answers them', async () => {
    const ports = await freePorts(6);
    const ids = ['n1', 'n2', 'n3'];
    const peers = Object.fromEntries(ids.map((id, i) => [id, { host: '127.0.0.1', port: ports[i]! }]));
    const servers = await Promise.all(
      ids.map(async (id, i) =>
        startServer({
          dir: await tempDir(`ordo-lifecycle-${id}`),
          port: ports[i]!,
          httpPort: ports[3 + i]!,
          logger: pino({ level: 'silent' }),
          cluster: { id, peers, tickMs: 10 },
        }),
      ),
    );
    const leader = await until('a leader', () => servers.find((s) => s.log.raftStatus().role === 'leader'));
    const follower = servers.find((s) => s !== leader)!;
    const client = await connect(follower.urls.tcp);
    assert.equal(client.redirects, 0);
    assert.deepEqual(await client.setStreamMetadata('orders', { maxCount: 1 }, { expected: 0 }), {
      position: 0,
      metadataCount: 1,
    });
    assert.equal(client.redirects, 1, 'the follower answered NOT_LEADER and the client went to the leader');
    await client.append('orders', [{ type: 'Opened' }, { type: 'Paid' }]);
    assert.deepEqual(await client.deleteStream('orders', { expected: 2 }), { position: 3 });
    for (const server of servers) {
      const reader = await connect(server.urls.tcp);
      const state = await reader.getStreamMetadata('orders');
      assert.deepEqual(
        { metadataCount: state.metadataCount, count: state.count, deleted: state.deleted },
        { metadataCount: 2, count: 2, deleted: true },
        `node ${server.log.nodeId}`,
      );
      await reader.close();
    }
    await client.close();
    for (const server of servers) await server.close();
  });
});
