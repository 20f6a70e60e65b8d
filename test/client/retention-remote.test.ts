import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PositionTrimmedError, type Event } from '../../src/types/index.js';
import { connectOwning, startTestServer } from '../support/server.js';
import { retentionSettled } from '../support/until.js';
import { collect } from '../conformance/event-log-suite.js';

/** Small segments, frequent checkpoints and retention checked every 10 ms: segments go quickly. */
const RETAINING = {
  segmentBytes: 4096,
  checkpointEvery: 20,
  scrub: false,
  retention: { maxBytes: 12_000, checkIntervalMs: 10 },
} as const;

describe('retention through connect()', () => {
  for (const transport of ['tcp', 'ws'] as const) {
    it(`reads the kept log from its start and names the first position for a removed one (${transport})`, async () => {
      const server = await startTestServer({ log: RETAINING });
      const log = await connectOwning(server, transport);
      for (let i = 0; i < 200; i++) await log.append(`s-${i % 3}`, { type: 'E', data: { pad: 'x'.repeat(200) } });
      const first = await retentionSettled(server.log);
      const all = await collect(log.readAll());
      assert.equal(all[0]!.position, first);
      assert.equal(all.length, 200 - first);
      await assert.rejects(collect(log.readAll({ from: 0 })), (error: unknown) => {
        assert.ok(error instanceof PositionTrimmedError, String(error));
        assert.equal(error.firstPosition, first);
        return true;
      });
      const fromStart = log.subscribe({ from: 'start' });
      assert.equal(((await fromStart.next()).value as Event).position, first);
      fromStart.close();
      const late = log.subscribe({ from: 1 });
      await assert.rejects(late.next(), PositionTrimmedError);
      await log.close();
    });
  }
});

describe('retention over HTTP', () => {
  it('GET /all reads from the first kept position; a removed from answers 410 POSITION_TRIMMED; /storage names it', async () => {
    const server = await startTestServer({ log: RETAINING });
    const get = async (path: string) => {
      const response = await fetch(`${server.urls.http}${path}`);
      return { status: response.status, body: (await response.json()) as any };
    };
    for (let i = 0; i < 200; i++) await server.log.append('s', { type: 'E', data: { pad: 'x'.repeat(200) } });
    const first = await retentionSettled(server.log);
    const all = await get('/all?limit=1');
    assert.equal(all.status, 200);
    assert.equal(all.body.events[0].position, first);
    const gone = await get('/all?from=0');
    assert.equal(gone.status, 410);
    assert.equal(gone.body.error.code, 'POSITION_TRIMMED');
    assert.equal(gone.body.error.firstPosition, first);
    assert.equal((await get('/storage')).body.firstPosition, first);
    await server.close();
  });
});
