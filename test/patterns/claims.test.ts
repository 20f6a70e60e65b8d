import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from '../../src/node/index.js';
import { connect } from '../../src/client/index.js';
import { ClaimConflictError, type EventLog } from '../../src/types/index.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';
import { TARGETS } from './targets.js';

const registered = (email: string) => ({ type: 'Registered', data: { email } });

function isConflict(set: string, value: string, holder: string, operation: 'claim' | 'release' = 'claim') {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ClaimConflictError, `expected a ClaimConflictError, got ${String(error)}`);
    assert.equal(error.code, 'CLAIM_CONFLICT');
    assert.equal(error.set, set);
    assert.equal(error.value, value);
    assert.equal(error.operation, operation);
    assert.equal(error.holder.stream, holder);
    assert.match(error.message, new RegExp(`"${value}" in claim set "${set}" is held by stream "${holder}"`));
    return true;
  };
}

for (const { name, make } of TARGETS) {
  describe(`uniqueness claims (${name})`, () => {
    it('a second claim of a held value fails with ClaimConflictError and writes nothing; release then re-claim works', async () => {
      const target = await make();
      const log = target.log;
      const first = await log.append('user-1', registered('ada@example.com'), {
        claims: [{ set: 'email', value: 'ada@example.com' }],
      });
      await assert.rejects(
        log.append('user-2', registered('ada@example.com'), { claims: [{ set: 'email', value: 'ada@example.com' }] }),
        isConflict('email', 'ada@example.com', 'user-1'),
      );
      assert.equal(await log.count('user-2'), 0, 'the refused append wrote nothing');
      assert.equal(await log.headPosition(), first.position);
      // Another set is another namespace; the holder may claim again (a no-op).
      await log.append('user-2', registered('x'), { claims: [{ set: 'handle', value: 'ada@example.com' }] });
      await log.append('user-1', { type: 'Touched' }, { claims: [{ set: 'email', value: 'ada@example.com' }] });
      // Only the holder may release.
      await assert.rejects(
        log.append('user-2', { type: 'Stole' }, { releases: [{ set: 'email', value: 'ada@example.com' }] }),
        isConflict('email', 'ada@example.com', 'user-1', 'release'),
      );
      // The holder changes its address: one append releases the old one and claims the new one.
      await log.append(
        'user-1',
        { type: 'EmailChanged', data: { email: 'ada@new.example' } },
        {
          releases: [{ set: 'email', value: 'ada@example.com' }],
          claims: [{ set: 'email', value: 'ada@new.example' }],
        },
      );
      await log.append('user-2', registered('ada@example.com'), {
        claims: [{ set: 'email', value: 'ada@example.com' }],
      });
      await assert.rejects(
        log.append('user-3', registered('ada@new.example'), { claims: [{ set: 'email', value: 'ada@new.example' }] }),
        isConflict('email', 'ada@new.example', 'user-1'),
      );
      // Readers see the events as usual (claim changes are the log's business, not the event's).
      const events = [];
      for await (const event of log.readAll()) events.push(event.type);
      assert.deepEqual(events, ['Registered', 'Registered', 'Touched', 'EmailChanged', 'Registered']);
      await target.close();
    });

    it('appendMany: claims are checked for every part atomically (one refused part writes no part)', async () => {
      const target = await make();
      const log = target.log;
      await log.append('order-1', { type: 'Placed' }, { claims: [{ set: 'invoice-number', value: '1001' }] });
      await assert.rejects(
        log.appendMany([
          { stream: 'order-2', events: [{ type: 'Placed' }], claims: [{ set: 'invoice-number', value: '1002' }] },
          { stream: 'order-3', events: [{ type: 'Placed' }], claims: [{ set: 'invoice-number', value: '1001' }] },
        ]),
        isConflict('invoice-number', '1001', 'order-1'),
      );
      assert.equal(await log.count('order-2'), 0);
      const ok = await log.appendMany([
        { stream: 'order-2', events: [{ type: 'Placed' }], claims: [{ set: 'invoice-number', value: '1002' }] },
        { stream: 'order-3', events: [{ type: 'Placed' }], claims: [{ set: 'invoice-number', value: '1003' }] },
      ]);
      assert.equal(ok.streams.length, 2);
      await assert.rejects(
        log.append('order-4', { type: 'Placed' }, { claims: [{ set: 'invoice-number', value: '1003' }] }),
        isConflict('invoice-number', '1003', 'order-3'),
      );
      await target.close();
    });

    it('bad claims are refused with INVALID_ARGUMENT naming the value, before anything is written', async () => {
      const target = await make();
      const log = target.log;
      await assert.rejects(
        log.append('u', { type: 'T' }, { claims: [{ set: '', value: 'v' }] }),
        (e: unknown) =>
          (e as { code?: string }).code === 'INVALID_ARGUMENT' &&
          /claims\[0\]\.set "": expected a non-empty string/.test((e as Error).message),
      );
      await assert.rejects(
        log.append('u', { type: 'T' }, { releases: 'v' as never }),
        /invalid releases "v": expected an array/,
      );
      assert.equal(await log.headPosition(), -1);
      await target.close();
    });

    it('50 concurrent clients claiming one value: exactly one wins, the other 49 get a conflict naming it', async () => {
      const target = await make();
      const clients: EventLog[] = [];
      for (let i = 0; i < 50; i++) clients.push(await target.alongside());
      const outcomes = await Promise.allSettled(
        clients.map((client, i) =>
          client.append(`user-${i}`, registered('grace@example.com'), {
            claims: [{ set: 'email', value: 'grace@example.com' }],
          }),
        ),
      );
      const winners = outcomes.map((o, i) => (o.status === 'fulfilled' ? i : -1)).filter((i) => i >= 0);
      assert.equal(winners.length, 1, `winners: ${winners.join(', ')}`);
      const winner = `user-${winners[0]}`;
      for (const outcome of outcomes)
        if (outcome.status === 'rejected') isConflict('email', 'grace@example.com', winner)(outcome.reason);
      let written = 0;
      for await (const _ of target.log.readAll()) written++;
      assert.equal(written, 1, 'one event in the log');
      await target.close();
    });
  });
}

describe('uniqueness claims: durable', () => {
  it('claims survive a reopen, from the checkpoint and from a full replay', async () => {
    const dir = await tempDir('ordo-claims');
    let log = await open(dir);
    await log.append('user-1', registered('a'), { claims: [{ set: 'email', value: 'a' }] });
    await log.append('user-2', registered('b'), { claims: [{ set: 'email', value: 'b' }] });
    await log.append('user-2', { type: 'Left' }, { releases: [{ set: 'email', value: 'b' }] });
    await log.close(); // writes a checkpoint
    for (const fromCheckpoint of [true, false]) {
      if (!fromCheckpoint) await rm(join(dir, 'checkpoints'), { recursive: true, force: true });
      log = await open(dir);
      await assert.rejects(
        log.append('user-9', registered('a'), { claims: [{ set: 'email', value: 'a' }] }),
        isConflict('email', 'a', 'user-1'),
      );
      await log.close();
    }
    log = await open(dir);
    const taken = await log.append('user-3', registered('b'), { claims: [{ set: 'email', value: 'b' }] });
    assert.equal(taken.position, 3, 'the released value was free after the reopen');
    await log.close();
  });

  it('HTTP: a second claim answers 409 CLAIM_CONFLICT naming the holder', async () => {
    const server = await startTestServer();
    const url = `${server.urls.http}/streams`;
    const post = (stream: string) =>
      fetch(`${url}/${stream}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events: [registered('ada@x')], claims: [{ set: 'email', value: 'ada@x' }] }),
      });
    assert.equal((await post('user-1')).status, 201);
    const refused = await post('user-2');
    assert.equal(refused.status, 409);
    const body = (await refused.json()) as {
      error: { code: string; set: string; value: string; holder: { stream: string } };
    };
    assert.equal(body.error.code, 'CLAIM_CONFLICT');
    assert.deepEqual([body.error.set, body.error.value, body.error.holder.stream], ['email', 'ada@x', 'user-1']);
    // The same claim, seen by a binary client of the same server.
    const client = await connect(server.urls.tcp);
    await assert.rejects(
      client.append('user-3', registered('ada@x'), { claims: [{ set: 'email', value: 'ada@x' }] }),
      isConflict('email', 'ada@x', 'user-1'),
    );
    await client.close();
    await server.close();
  });
});
