import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fold } from '../../src/patterns/index.js';
import { InvalidArgumentError } from '../../src/types/index.js';
import { eventJson } from '../../src/types/json.js';
import { TARGETS } from './targets.js';

for (const { name, make } of TARGETS) {
  describe(`fold: the state as of a past position (${name})`, () => {
    it('fold(until) equals the state computed at that moment, for every moment, filtered or not', async () => {
      const target = await make();
      const log = target.log;
      const balance = {
        init: () => 0,
        apply: (total: number, event: { data: Uint8Array; contentType: 'json' | 'binary'; id: string }) =>
          total + eventJson<{ amount: number }>(event).amount,
      };
      const seenThen: Array<{ position: number; all: number; alice: number }> = [];
      let all = 0;
      let alice = 0;
      for (let i = 0; i < 40; i++) {
        const who = i % 3 === 0 ? 'alice' : `bob-${i % 2}`;
        const amount = ((i * 7) % 11) - 3;
        const { position } = await log.append(`account-${who}`, { type: 'Moved', data: { amount } });
        all += amount;
        if (who === 'alice') alice += amount;
        seenThen.push({ position, all, alice });
      }
      for (const moment of seenThen) {
        assert.equal(
          (await fold(log, { ...balance, until: moment.position })).state,
          moment.all,
          `whole log as of ${moment.position}`,
        );
        const filtered = await fold(log, {
          ...balance,
          filter: { streams: ['account-alice'] },
          until: moment.position,
        });
        assert.equal(filtered.state, moment.alice, `alice as of ${moment.position}`);
      }
      const now = await fold(log, balance);
      assert.deepEqual(
        { state: now.state, position: now.position, events: now.events },
        { state: all, position: 39, events: 40 },
      );
      assert.equal((await fold(log, { ...balance, until: -1 })).state, 0, 'before the first event: the initial state');
      await assert.rejects(
        fold(log, { ...balance, until: 40 }),
        (e: unknown) => e instanceof InvalidArgumentError && /the log's head is 39/.test(e.message),
      );
      await assert.rejects(fold(log, { ...balance, until: 1.5 }), /invalid until 1.5/);
      await assert.rejects(
        fold(log, { init: 0, apply: balance.apply } as never),
        /expected \{ init\(\), apply\(state, event\) \}/,
      );
      await target.close();
    });
  });
}
