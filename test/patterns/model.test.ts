import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import {
  ModelNotReadyError,
  defineModel,
  fold,
  openModel,
  snapshotStream,
  type ModelChange,
} from '../../src/patterns/index.js';
import { eventJson } from '../../src/index.js';
import type { Event, EventLog } from '../../src/types/index.js';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { startTestServer } from '../support/server.js';
import { until } from '../support/until.js';
import { TARGETS } from './targets.js';

type Balances = Readonly<Record<string, number>>;

/** Balances per account, from Deposited/Withdrawn events of `account-*` streams. */
const balances = defineModel<Balances>({
  name: 'balances',
  version: 1,
  filter: { prefixes: ['account-'] },
  init: () => ({}),
  apply: (state, event) => {
    const { amount } = eventJson<{ amount: number }>(event);
    const delta = event.type === 'Deposited' ? amount : -amount;
    return { ...state, [event.stream]: (state[event.stream] ?? 0) + delta };
  },
});

const freshFold = (log: EventLog) =>
  fold(log, { filter: balances.filter!, init: balances.init, apply: balances.apply });

async function deposit(log: EventLog, account: number, amount: number): Promise<void> {
  await log.append(`account-${account}`, {
    type: amount >= 0 ? 'Deposited' : 'Withdrawn',
    data: { amount: Math.abs(amount) },
  });
}

for (const { name, make } of TARGETS) {
  describe(`log-replicated model (${name})`, () => {
    it('is ready only with a complete state (as of the head when it opened); then follows the log, frozen', async () => {
      const target = await make();
      const log = target.log;
      for (let i = 0; i < 20; i++) await deposit(log, i % 3, 10);
      await log.append('other', { type: 'Noise' });
      const model = openModel(log, balances);
      assert.throws(() => model.state, ModelNotReadyError);
      await model.ready;
      assert.equal(model.position, 20, 'as of the head, even though the last event there is not its own');
      assert.deepEqual(model.state, (await freshFold(log)).state);
      const changes: Array<ModelChange<Balances>> = [];
      const stop = model.onChange((change) => changes.push(change));
      const iterator = model.changes();
      await deposit(log, 0, 5);
      await deposit(log, 1, -3);
      const first = await iterator.next();
      const second = await iterator.next();
      assert.equal(first.value!.event!.position, 21);
      assert.equal(second.value!.position, 22);
      assert.equal(second.value!.state['account-1'], 67);
      await until('onChange to hear both', () => changes.length >= 2 || undefined);
      assert.deepEqual(
        changes.map((c) => c.position),
        [21, 22],
      );
      stop();
      // State handed out is immutable: a reader cannot change what other readers see.
      assert.throws(() => ((model.state as Record<string, number>)['account-0'] = 0), TypeError);
      assert.ok(Object.isFrozen(first.value!.state));
      assert.equal(model.status().state, 'live');
      assert.ok((await model.lag()) <= 0);
      await model.close();
      assert.equal((await iterator.next()).done, true, 'close ends the change iterators');
      await target.close();
    });

    it('snapshots every N events to $snapshots-<name>; a new model loads from the newest of its version and equals a fresh fold', async () => {
      const target = await make();
      const log = target.log;
      const writer = openModel(log, balances, { snapshotEvery: 10 });
      const rival = openModel(await target.alongside(), balances, { snapshotEvery: 10 });
      await Promise.all([writer.ready, rival.ready]);
      for (let i = 0; i < 35; i++) await deposit(log, i % 4, i);
      await until(
        'both writers at the 35th event',
        () => (writer.status().events === 35 && rival.status().events === 35) || undefined,
      );
      const snapshots: Event[] = [];
      await until(
        'the snapshot writes to settle',
        () => (writer.status().snapshotsWritten === 3 && rival.status().snapshotsWritten === 3) || undefined,
      );
      // Two instances wrote each snapshot, the log kept one of each (derived ids).
      await writer.close();
      await rival.close();
      snapshots.length = 0;
      for await (const event of log.read(snapshotStream('balances'))) snapshots.push(event);
      assert.deepEqual(
        snapshots.map((s) => eventJson<{ events: number }>(s).events),
        [10, 20, 30],
      );
      const newest = eventJson<{ position: number }>(snapshots[2]!).position;
      const reader = openModel(log, balances);
      await reader.ready;
      assert.equal(reader.status().loadedFrom, newest, 'loaded from the newest snapshot');
      assert.deepEqual(reader.state, (await freshFold(log)).state);
      assert.equal(reader.status().events, 35);
      await reader.close();
      // Another version ignores those snapshots and folds from the start.
      const v2 = openModel(log, { ...balances, version: 2 });
      await v2.ready;
      assert.equal(v2.status().loadedFrom, -1);
      assert.deepEqual(v2.state, (await freshFold(log)).state);
      await v2.close();
      await target.close();
    });

    it('on a closed log handle, ready rejects with LOG_CLOSED instead of retrying forever', async () => {
      const target = await make();
      const handle = await target.alongside();
      if (handle === target.log) {
        await target.close();
      } else {
        await handle.close();
      }
      const model = openModel(handle, balances);
      await assert.rejects(model.ready, (error: unknown) => (error as { code?: string }).code === 'LOG_CLOSED');
      assert.equal(model.status().state, 'closed');
      await model.close();
      if (handle !== target.log) await target.close();
    });

    it('a snapshotting model that loads far past the newest snapshot writes one at once', async () => {
      const target = await make();
      for (let i = 0; i < 30; i++) await deposit(target.log, i % 2, 1);
      const model = openModel(target.log, balances, { snapshotEvery: 10 });
      await model.ready;
      await until('the load-time snapshot', () => model.status().snapshotsWritten === 1 || undefined);
      const reader = openModel(target.log, balances);
      await reader.ready;
      assert.equal(reader.status().loadedFrom, 29);
      assert.equal(reader.status().events, 30);
      for (const m of [model, reader]) await m.close();
      await target.close();
    });

    it('an apply that changes the frozen state fails the model with a message saying so', async () => {
      const target = await make();
      await deposit(target.log, 1, 1);
      const broken = openModel(target.log, {
        ...balances,
        name: 'broken',
        apply: (state) => {
          (state as Record<string, number>).x = 1;
          return state;
        },
      });
      await assert.rejects(
        broken.ready,
        /model "broken": apply failed on the event at position 0 \(the state is frozen: return a new state instead of changing it\)/,
      );
      assert.equal(broken.status().state, 'failed');
      await broken.close();
      await target.close();
    });
  });
}

describe('log-replicated model: many remote clients', () => {
  it("N clients' models equal a fresh fold after random appends and forced reconnects", async () => {
    const server = await startTestServer();
    const proxy = await CuttingProxy.start(server.urls.tcp);
    const writer = await connect(server.urls.tcp);
    // Some history before the clients open (one has a snapshot to start from).
    for (let i = 0; i < 40; i++) await deposit(writer, i % 5, i + 1);
    const snapshotter = openModel(writer, balances, { snapshotEvery: 25 });
    await snapshotter.ready;
    const clients = await Promise.all(Array.from({ length: 6 }, () => connect(proxy.url, { reconnectDelayMs: 20 })));
    const models = clients.map((client) => openModel(client, balances));
    await Promise.all(models.map((model) => model.ready));
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 8; round++) {
      const appends = 20 + Math.floor(random() * 30);
      const pending: Array<Promise<void>> = [];
      for (let i = 0; i < appends; i++)
        pending.push(deposit(writer, Math.floor(random() * 7), Math.floor(random() * 200) - 100));
      if (random() < 0.8) setTimeout(() => proxy.cutAll(), Math.floor(random() * 20));
      await Promise.all(pending);
    }
    // A model's position moves with its own events (the snapshots' are not): the newest deposit.
    let head = -1;
    for await (const event of writer.readAll({ filter: balances.filter! })) head = event.position;
    const expected = await freshFold(writer);
    for (const [i, model] of models.entries()) {
      await until(`model ${i} at ${head}`, () => model.position >= head || undefined, 15_000);
      assert.deepEqual(model.state, expected.state, `model ${i}`);
    }
    assert.ok(proxy.cuts >= 4, `connections were cut ${proxy.cuts} times`);
    assert.ok(
      models.every((model) => model.status().rebuilds === 0),
      'a reconnect resumes, it does not rebuild',
    );
    for (const model of [...models, snapshotter]) await model.close();
    for (const client of [...clients, writer]) await client.close();
    await proxy.close();
    await server.close();
  });

  it('rebuilds from scratch when the log behind the address no longer reaches its position', async () => {
    const first = await startTestServer();
    const second = await startTestServer();
    const proxy = await CuttingProxy.start(first.urls.tcp);
    const a = await connect(first.urls.tcp);
    const b = await connect(second.urls.tcp);
    for (let i = 0; i < 30; i++) await deposit(a, i % 3, 10);
    for (let i = 0; i < 5; i++) await deposit(b, i % 2, 7);
    const client = await connect(proxy.url, { reconnectDelayMs: 20 });
    const model = openModel(client, balances);
    await model.ready;
    assert.equal(model.position, 29);
    proxy.retarget(second.urls.tcp);
    await deposit(b, 9, 1); // something to deliver, so the subscription notices
    await until('the model to rebuild', () => model.status().rebuilds >= 1 || undefined, 15_000);
    await until('the rebuilt model at the new head', () => model.position === 5 || undefined, 15_000);
    assert.deepEqual(model.state, (await freshFold(b)).state);
    await model.close();
    for (const log of [client, a, b]) await log.close();
    await proxy.close();
    await first.close();
    await second.close();
  });
});
