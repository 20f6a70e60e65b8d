import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { DiskFullError, type StorageFailedError } from '../../src/types/errors.js';
import { FaultyDisk, untilDiskFull } from '../node/faulty-disk.js';
import { collect } from '../conformance/event-log-suite.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';

interface Health {
  status: number;
  state: string;
  writes?: string;
}

async function health(http: string): Promise<Health> {
  const response = await fetch(`${http}/health`);
  const body = (await response.json()) as { status: string; writes?: string };
  const result: Health = { status: response.status, state: body.status };
  if (body.writes !== undefined) result.writes = body.writes;
  return result;
}

async function metrics(http: string): Promise<string> {
  return (await fetch(`${http}/metrics`)).text();
}

/** A guard against a hang, not a timing assertion. */
const HANG_GUARD = { timeout: 30_000 };

describe('server: a full or failing disk', () => {
  it(
    'a full disk answers appends DISK_FULL: HTTP 507, and the same DiskFullError through connect(); reads go on',
    HANG_GUARD,
    async () => {
      // Given a server whose disk fills up under an append
      const disk = new FaultyDisk();
      const server = await startTestServer({ log: { fileSystem: disk.fs } });
      const client = await connect(server.urls.tcp);
      await client.append('s', { type: 'A' });
      disk.failWrites('ENOSPC');
      const waiting = server.log.append('s', { type: 'B' });
      await untilDiskFull(server.log);
      // When clients append over HTTP and over the binary protocol
      const response = await fetch(`${server.urls.http}/streams/s`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'C' }),
      });
      const body = (await response.json()) as { error: { code: string; message: string } };
      const remote = await client.append('s', { type: 'D' }).then(
        () => undefined,
        (error: Error) => error,
      );
      // Then HTTP answers 507 Insufficient Storage, and the client rebuilds the same error class
      assert.equal(response.status, 507);
      assert.equal(body.error.code, 'DISK_FULL');
      assert.match(body.error.message, /is full/);
      assert.ok(remote instanceof DiskFullError, `got ${remote}`);
      assert.equal(remote.code, 'DISK_FULL');
      // And reads go on, the node stays healthy for them, and says its disk is full
      assert.deepEqual(
        (await collect(client.read('s'))).map((e) => e.type),
        ['A'],
      );
      assert.deepEqual(await health(server.urls.http), { status: 200, state: 'ok', writes: 'disk-full' });
      assert.match(await metrics(server.urls.http), /^ordo_disk_full 1$/m);
      // When space returns, the waiting append is written and appends are taken again
      disk.heal();
      assert.equal((await waiting).position, 1);
      assert.equal((await client.append('s', { type: 'E' })).position, 2);
      assert.deepEqual(await health(server.urls.http), { status: 200, state: 'ok', writes: 'accepting' });
      assert.match(await metrics(server.urls.http), /^ordo_disk_full 0$/m);
      await client.close();
      await server.close();
    },
  );

  it(
    'a failed fdatasync stops the server; the client re-sends the append of unknown outcome to the restarted server, which answers it once',
    HANG_GUARD,
    async () => {
      // Given a server whose next fdatasync fails, and a client appending to it
      const dir = await tempDir();
      const disk = new FaultyDisk();
      let stopped: StorageFailedError | undefined;
      const server = await startTestServer({ dir, log: { fileSystem: disk.fs }, onStopped: (e) => (stopped = e) });
      const port = Number(new URL(server.urls.tcp).port);
      const client = await connect(server.urls.tcp, { timeoutMs: 20_000, maxReconnectDelayMs: 200 });
      await client.append('s', { type: 'A' });
      disk.failSyncs('EIO');
      // When an append's fdatasync fails
      const appended = client.append('s', { type: 'B' });
      // Then the server stops, naming the file and the error
      for (let i = 0; i < 300 && !stopped; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.match(stopped?.message ?? '', /\.seg failed \(EIO in fdatasync/);
      // When the server is restarted on a healthy disk, where the client reconnects
      const restarted = await startTestServer({ dir, port });
      // Then the client's re-send of the unanswered append is answered with its place, and the log holds it once
      assert.equal((await appended).position, 1);
      assert.deepEqual(
        (await collect(client.read('s'))).map((e) => e.type),
        ['A', 'B'],
      );
      await client.close();
      await restarted.close();
    },
  );
});
