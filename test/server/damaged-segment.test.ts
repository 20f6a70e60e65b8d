import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { connect } from '../../src/client/index.js';
import { CorruptLogError } from '../../src/types/errors.js';
import type { ScrubStatus } from '../../src/types/log-metrics.js';
import { ordo } from '../support/cli.js';
import { tempDir } from '../support/temp-dir.js';
import { startTestServer } from '../support/server.js';
import { collect, take } from '../conformance/event-log-suite.js';
import { flipByteOfFirstBatch, smallSegments, writeSegmentedLog } from '../support/damage.js';

const EVENTS = 60;

function assertCorruptAt(error: unknown, file: string, offset: number): true {
  assert.ok(error instanceof CorruptLogError, `a CorruptLogError (got ${String(error)})`);
  assert.equal(error.file, file);
  assert.equal(error.offset, offset);
  assert.match(error.reason, /crc32c mismatch/);
  return true;
}

describe('a damaged sealed batch, through the server', () => {
  it('fails the remote reads and subscriptions that reach it with a typed error, and nothing else', {
    timeout: 30_000,
  }, async () => {
    // Given a server on a log whose second segment holds a damaged batch
    const dir = await tempDir('ordo-damaged-server');
    const segments = await writeSegmentedLog(dir, EVENTS);
    const damaged = segments[1]!;
    const offset = await flipByteOfFirstBatch(damaged.file);
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const server = await startTestServer({ dir, logger, log: smallSegments({ scrub: false }) });
    const client = await connect(server.urls.tcp);
    try {
      // When a remote readAll reaches it, then it fails with CorruptLogError, file and offset included
      await assert.rejects(collect(client.readAll()), (error) => assertCorruptAt(error, damaged.file, offset));
      // And a remote subscription catching up through it ends with the same error (not a retry loop)
      const subscription = client.subscribe({ from: 0 });
      await assert.rejects(take(subscription[Symbol.asyncIterator](), EVENTS), (error) =>
        assertCorruptAt(error, damaged.file, offset),
      );
      subscription.close();

      // And over HTTP, the error is typed JSON with the same fields
      const response = await fetch(`${server.urls.http}/all?from=0`);
      assert.equal(response.status, 500);
      const body = (await response.json()) as { error: Record<string, unknown> };
      assert.deepEqual([body.error.code, body.error.file, body.error.offset], ['CORRUPT_LOG', damaged.file, offset]);

      // And a Server-Sent Events subscription ends with the typed error as its last message
      const sse = await (await fetch(`${server.urls.http}/subscribe?from=start`)).text();
      const failure = /event: failure\ndata: (.*)\n\n$/.exec(sse);
      assert.ok(failure, `the stream ends with a failure: ${sse.slice(-300)}`);
      const sent = (JSON.parse(failure[1]!) as { error: Record<string, unknown> }).error;
      assert.deepEqual([sent.code, sent.file, sent.offset], ['CORRUPT_LOG', damaged.file, offset]);

      // Then every other read and append goes on
      assert.equal((await collect(client.readAll({ from: segments[2]!.base }))).length, EVENTS - segments[2]!.base);
      assert.equal((await collect(client.read('s0'))).length, 1);
      await client.append('after-damage', { type: 'T' });

      // And the damage is logged once and counted in /metrics
      const damageLines = logged.filter((line) => line.msg === 'damaged batch in a sealed segment');
      assert.equal(damageLines.length, 1, JSON.stringify(logged));
      const metrics = await (await fetch(`${server.urls.http}/metrics`)).text();
      assert.match(metrics, /^ordo_damaged_batches_total 1$/m);

      // And `ordo status --http` lists it, with what to do, and exits 1
      const status = await ordo('status', '--http', server.urls.http);
      assert.equal(status.code, 1, status.stderr);
      const scrub = (JSON.parse(status.stdout) as { scrub: ScrubStatus }).scrub;
      assert.deepEqual(
        scrub.damaged.map((d) => [d.file, d.offset, d.foundBy]),
        [[damaged.file, offset, 'read']],
      );
      assert.match(scrub.advice ?? '', /restore/);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
