import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/client/index.js';
import { defineModel, fold, openModel, snapshotStream, type ConsumerOptions } from '../../src/patterns/index.js';
import { eventJson } from '../../src/index.js';
import type { Event } from '../../src/types/index.js';
import { startServerProcess, stopGracefully } from '../support/server-process.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

const orders = defineModel<Readonly<Record<string, number>>>({
  name: 'order-totals',
  version: 1,
  filter: { prefixes: ['order-'] },
  snapshotEvery: 10,
  init: () => ({}),
  apply: (state, event) => ({
    ...state,
    [event.stream]: (state[event.stream] ?? 0) + eventJson<{ total: number }>(event).total,
  }),
});

async function metricValue(http: string, name: string, labels: string): Promise<number | undefined> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('server-hosted models and consumers', () => {
  it('a hosted model stays hot, snapshots, is served at GET /models/:name and in /metrics; clients load from its snapshots', async () => {
    const mailed: number[] = [];
    let failing = true;
    const mailer: ConsumerOptions = {
      name: 'mailer',
      filter: { types: ['Placed'] },
      checkpointEvery: 5,
      retry: { initialDelayMs: 5, maxDelayMs: 20, breakerFailures: 100 },
      handler: (event: Event) => {
        if (failing && event.index === 3) throw new Error('smtp down');
        mailed.push(event.position);
      },
    };
    const server = await startTestServer({ models: [orders], consumers: [mailer] });
    const client = await connect(server.urls.tcp);
    const placed: number[] = [];
    for (let i = 0; i < 25; i++)
      placed.push((await client.append(`order-${i % 5}`, { type: 'Placed', data: { total: i } })).position);
    const last = placed[24]!; // the model's snapshots take positions too
    await until(
      `the hosted model at ${last}`,
      () => server.hosted.models.get('order-totals')!.position === last || undefined,
    );
    const served = (await (await fetch(`${server.urls.http}/models/order-totals`)).json()) as {
      position: number;
      state: unknown;
    };
    assert.equal(served.position, last);
    assert.deepEqual(
      served.state,
      (await fold(client, { filter: orders.filter!, init: orders.init, apply: orders.apply })).state,
    );
    assert.equal((await fetch(`${server.urls.http}/models/nope`)).status, 404);
    await until(
      'two snapshots',
      () => server.hosted.models.get('order-totals')!.status().snapshotsWritten === 2 || undefined,
    );
    assert.equal(await metricValue(server.urls.http, 'ordo_model_position', 'model="order-totals"'), last);
    assert.equal(await metricValue(server.urls.http, 'ordo_model_state', 'model="order-totals",state="live"'), 1);
    // A client's model starts from the server's newest snapshot and folds only what follows.
    const model = openModel(client, orders);
    await model.ready;
    assert.equal(
      model.status().loadedFrom,
      (await newestSnapshotPosition(client, snapshotStream('order-totals'))) ?? -2,
    );
    assert.deepEqual(model.state, served.state);
    await model.close();
    // The consumer is stuck on order-*'s 4th event (index 3): its lag and failures show it.
    await until(
      'the consumer to retry',
      () => server.hosted.consumers.get('mailer')!.status().failures >= 2 || undefined,
    );
    assert.ok((await metricValue(server.urls.http, 'ordo_consumer_failures', 'consumer="mailer"'))! >= 2);
    assert.ok((await metricValue(server.urls.http, 'ordo_consumer_lag_positions', 'consumer="mailer"'))! > 0);
    failing = false;
    await until(
      'the consumer to catch up',
      () => (mailed.length === 25 && server.hosted.consumers.get('mailer')!.status().state === 'running') || undefined,
    );
    assert.deepEqual(mailed, placed, 'every order mailed once, in order, none skipped');
    assert.equal(await metricValue(server.urls.http, 'ordo_consumer_state', 'consumer="mailer",state="running"'), 1);
    await client.close();
    await server.close();
  });

  it("`ordo serve --models ./module.js` loads the module's definitions and prints where they are served", async () => {
    const dir = await tempDir('ordo-hosted');
    const module = join(dir, 'models.mjs');
    const ordo = fileURLToPath(new URL('../../src/index.js', import.meta.url));
    await writeFile(
      module,
      `import { defineModel } from ${JSON.stringify(ordo)};\nexport const count = defineModel({ name: 'count', version: 1, init: () => 0, apply: (n) => n + 1 });\nexport default [count];\n`,
    );
    const server = await startServerProcess(join(dir, 'data'), { args: ['--models', module] });
    assert.match(server.stderr(), /models\s+http:\/\/127\.0\.0\.1:\d+\/models\/count/);
    const client = await connect(server.urls.tcp);
    for (let i = 0; i < 3; i++) await client.append('s', { type: 'T' });
    let state: unknown;
    for (let tries = 0; tries < 200 && state !== 3; tries++) {
      const response = await fetch(`${server.urls.http}/models/count`);
      if (response.status === 200) state = ((await response.json()) as { state: unknown }).state;
      if (state !== 3) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(state, 3);
    await client.close();
    assert.equal(await stopGracefully(server), 0);
  });
});

/** Position of the newest snapshot in `stream`, as the data it records. */
async function newestSnapshotPosition(
  client: Awaited<ReturnType<typeof connect>>,
  stream: string,
): Promise<number | undefined> {
  let position: number | undefined;
  for await (const event of client.read(stream)) position = eventJson<{ position: number }>(event).position;
  return position;
}
