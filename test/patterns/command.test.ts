import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deciderSpec, handleCommand, type Decider } from '../../src/patterns/index.js';
import { WrongExpectedCountError } from '../../src/types/index.js';
import { TARGETS } from './targets.js';

type Command = { type: 'Deposit'; amount: number } | { type: 'Withdraw'; amount: number };
type AccountEvent = { type: 'Deposited'; data: { amount: number } } | { type: 'Withdrawn'; data: { amount: number } };

class InsufficientFunds extends Error {}

const account: Decider<Command, { balance: number }, AccountEvent> = {
  initial: () => ({ balance: 0 }),
  evolve: (state, event) => ({
    balance: state.balance + (event.type === 'Deposited' ? event.data.amount : -event.data.amount),
  }),
  decide: (command, state) => {
    if (command.amount <= 0) return [];
    if (command.type === 'Deposit') return [{ type: 'Deposited', data: { amount: command.amount } }];
    if (command.amount > state.balance)
      throw new InsufficientFunds(`balance ${state.balance} is below ${command.amount}`);
    return [{ type: 'Withdrawn', data: { amount: command.amount } }];
  },
};

describe('deciderSpec: given / when / then, without a log', () => {
  const spec = deciderSpec(account);
  it('then: the events a command produces; thenThrows: the domain error', () => {
    spec
      .given([{ type: 'Deposited', data: { amount: 10 } }])
      .when({ type: 'Withdraw', amount: 4 })
      .then([{ type: 'Withdrawn', data: { amount: 4 } }]);
    spec.given([]).when({ type: 'Withdraw', amount: 1 }).thenThrows(InsufficientFunds);
    spec.given([]).when({ type: 'Deposit', amount: 0 }).then([]);
    assert.throws(
      () => spec.given([]).when({ type: 'Deposit', amount: 1 }).then([]),
      /expected the events \[\], got \[\{"type":"Deposited"/,
    );
    assert.throws(
      () => spec.given([]).when({ type: 'Deposit', amount: 1 }).thenThrows(InsufficientFunds),
      /to be thrown, got the events/,
    );
  });
});

for (const { name, make } of TARGETS) {
  describe(`handleCommand (${name})`, () => {
    it('reads, decides and appends with the expected count; a domain error appends nothing', async () => {
      const target = await make();
      const log = target.log;
      const first = await handleCommand(log, 'account-1', account, { type: 'Deposit', amount: 10 });
      assert.deepEqual(first.state, { balance: 10 });
      assert.equal(first.appended?.index, 0);
      const second = await handleCommand(log, 'account-1', account, { type: 'Withdraw', amount: 3 });
      assert.deepEqual(second.state, { balance: 7 });
      await assert.rejects(
        handleCommand(log, 'account-1', account, { type: 'Withdraw', amount: 8 }),
        InsufficientFunds,
      );
      const none = await handleCommand(log, 'account-1', account, { type: 'Deposit', amount: 0 });
      assert.equal(none.appended, undefined);
      assert.equal(await log.count('account-1'), 2);
      await target.close();
    });

    it('concurrent commands on one stream: each decides on the state it saw or starts over, so the balance never goes below zero', async () => {
      const target = await make();
      const log = target.log;
      await handleCommand(log, 'account-2', account, { type: 'Deposit', amount: 10 });
      // Ten withdrawals of 3 race: at most three can go through; the rest see the new balance and fail.
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, () =>
          handleCommand(log, 'account-2', account, { type: 'Withdraw', amount: 3 }, { maxRetries: 20 }),
        ),
      );
      const done = results.filter((r) => r.status === 'fulfilled');
      assert.equal(
        done.length,
        3,
        JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))),
      );
      assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof InsufficientFunds));
      let balance = 0;
      for await (const event of log.read('account-2')) balance += event.type === 'Deposited' ? 10 : -3;
      assert.equal(balance, 1);
      // With no retries allowed, a conflict comes back as WrongExpectedCountError.
      const racing = await Promise.allSettled(
        Array.from({ length: 5 }, () =>
          handleCommand(log, 'account-3', account, { type: 'Deposit', amount: 1 }, { maxRetries: 0 }),
        ),
      );
      assert.ok(racing.some((r) => r.status === 'fulfilled'));
      assert.ok(racing.every((r) => r.status === 'fulfilled' || r.reason instanceof WrongExpectedCountError));
      await assert.rejects(
        handleCommand(log, 'x', account, { type: 'Deposit', amount: 1 }, { maxRetries: -1 }),
        /invalid maxRetries -1/,
      );
      await target.close();
    });
  });
}
