import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outputId, transform, type Transform } from '../../src/patterns/index.js';
import type { Event, EventLog } from '../../src/types/index.js';
import { eventJson } from '../../src/types/json.js';
import { seededRandom } from '../../src/raft/index.js';
import { until } from '../support/until.js';
import { TARGETS } from './targets.js';

/**
 * Running totals per account, and an alert output each time one goes below zero. (It uses the
 * stream index, not the position: outputs share the log with the inputs, so positions differ
 * between the reference log and the competing one.)
 */
const alerts = {
  name: 'alerts',
  filter: { prefixes: ['account-'] },
  init: () => ({}) as Record<string, number>,
  fn: (event: Event, totals: Record<string, number>) => {
    const amount = eventJson<{ amount: number }>(event).amount;
    const before = totals[event.stream] ?? 0;
    const after = before + amount;
    const state = { ...totals, [event.stream]: after };
    return {
      state,
      events:
        before >= 0 && after < 0
          ? [{ type: 'Overdrawn', data: { account: event.stream, at: event.index, balance: after } }]
          : [],
    };
  },
};

async function outputs(log: EventLog): Promise<Array<{ id: string; index: number; data: unknown }>> {
  const out = [];
  for await (const event of log.read('alerts')) out.push({ id: event.id, index: event.index, data: eventJson(event) });
  return out;
}

for (const { name, make } of TARGETS) {
  describe(`deterministic transform (${name})`, () => {
    it('three competing instances, stopped and restarted at random, write exactly the output of a single instance, once each', async () => {
      const random = seededRandom(2002);
      // The reference: one instance over the same inputs in a log of its own.
      const reference = await make();
      const competing = await make();
      const inputs = Array.from({ length: 150 }, (_, i) => ({
        stream: `account-${i % 4}`,
        amount: random.int(21) - 12,
      }));
      for (const input of inputs)
        await reference.log.append(input.stream, { type: 'Moved', data: { amount: input.amount } });
      const single = await transform(reference.log, alerts);
      await until('the reference done', () => single.stats().inputs === inputs.length);
      await single.stop();
      const expected = await outputs(reference.log);
      assert.ok(expected.length >= 5, `the inputs produce outputs (${expected.length})`);

      const logs = [competing.log, await competing.alongside(), await competing.alongside()];
      const instances: Array<Transform | undefined> = await Promise.all(logs.map((log) => transform(log, alerts)));
      for (const [i, input] of inputs.entries()) {
        await competing.log.append(input.stream, { type: 'Moved', data: { amount: input.amount } });
        if (i % 25 === 24) {
          // Kill one at random (it may be in the middle of a write) and start it again.
          const k = random.int(3);
          await instances[k]!.stop();
          instances[k] = await transform(logs[k]!, alerts);
        }
      }
      await until(
        'every instance at the end',
        () => instances.every((t) => t!.stats().inputs === inputs.length),
        20_000,
      );
      const written = instances.reduce((sum, t) => sum + t!.stats().written, 0);
      for (const t of instances) await t!.stop();
      const actual = await outputs(competing.log);
      assert.deepEqual(actual, expected, 'identical to the single-instance run: same events, same ids, same indexes');
      assert.equal(new Set(actual.map((o) => o.id)).size, actual.length, 'no duplicate');
      assert.deepEqual(
        actual.map((o) => o.id),
        actual.map((_, k) => outputId('alerts', k)),
      );
      assert.ok(written <= actual.length, `each output written once (${written} writes for ${actual.length})`);
      await reference.close();
      await competing.close();
    });

    it('refuses a transform that would read its own output, or has no input filter', async () => {
      const target = await make();
      await assert.rejects(
        transform(target.log, { ...alerts, filter: { prefixes: ['al'] } }),
        /reads its own output stream/,
      );
      await assert.rejects(
        transform(target.log, { ...alerts, filter: undefined }),
        /needs a filter with streams or prefixes/,
      );
      await assert.rejects(transform(target.log, { ...alerts, name: '' }), /invalid stream name/);
      await target.close();
    });
  });
}
