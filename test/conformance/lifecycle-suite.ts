import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { OpenOptions } from '../../src/node/index.js';
import {
  InvalidMetadataError,
  InvalidStreamError,
  StreamDeletedError,
  WrongExpectedCountError,
  type EventLog,
  type StreamLifecycle,
} from '../../src/types/index.js';
import { collect, take } from './event-log-suite.js';

/**
 * Stream metadata, soft delete and tombstones: the same behaviour from every log, embedded and
 * remote. What a user relies on: reads hide what the metadata hides, at once; counts and
 * indexes never move; nothing the metadata keeps is ever lost; bad input gets a typed error.
 */
export type MakeLifecycleLog = (options?: OpenOptions) => Promise<EventLog & StreamLifecycle>;

async function indexes(iterable: AsyncIterable<{ stream: string; index: number }>): Promise<string[]> {
  return (await collect(iterable)).map((event) => `${event.stream}#${event.index}`);
}

async function given(log: EventLog, stream: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await log.append(stream, { type: 'Happened', data: { i } });
}

export function lifecycleConformance(label: string, make: MakeLifecycleLog): void {
  describe(`${label}: stream metadata`, () => {
    it('maxCount hides all but the newest events from read, readAll and subscribe, and keeps the count', async () => {
      const log = await make();
      await given(log, 'orders', 5);
      await log.append('other', { type: 'Kept' });
      const set = await log.setStreamMetadata('orders', { maxCount: 2 }, { expected: 0 });
      assert.equal(set.metadataCount, 1);
      assert.deepEqual(await indexes(log.read('orders')), ['orders#3', 'orders#4']);
      assert.deepEqual(await indexes(log.read('orders', { backwards: true })), ['orders#4', 'orders#3']);
      assert.deepEqual(await indexes(log.read('orders', { from: 0, limit: 1 })), ['orders#3']);
      const all = (await indexes(log.readAll())).filter((name) => !name.startsWith('$$'));
      assert.deepEqual(all, ['orders#3', 'orders#4', 'other#0']);
      const subscription = log.subscribe({ from: 'start', filter: { streams: ['orders'] } });
      assert.deepEqual(
        (await take(subscription, 2)).map((event) => ('index' in event ? event.index : -1)),
        [3, 4],
      );
      subscription.close();
      assert.equal(await log.count('orders'), 5, 'the count is every event ever appended');
      await log.append('orders', { type: 'Happened' }, { expected: 5 });
      assert.deepEqual(await indexes(log.read('orders')), ['orders#4', 'orders#5']);
      await log.close();
    });

    it('truncateBefore hides the indexes below it; changing the metadata shows them again', async () => {
      const log = await make();
      await given(log, 'cart', 4);
      await log.setStreamMetadata('cart', { truncateBefore: 3 });
      assert.deepEqual(await indexes(log.read('cart')), ['cart#3']);
      await log.setStreamMetadata('cart', {});
      assert.deepEqual((await indexes(log.read('cart'))).length, 4, 'hidden is not gone until scavenged');
      await log.close();
    });

    it('maxAge hides events older than it', async () => {
      const log = await make();
      await given(log, 'sensor', 3);
      await log.setStreamMetadata('sensor', { maxAge: 3_600_000 });
      assert.equal((await collect(log.read('sensor'))).length, 3, 'an hour keeps events a moment old');
      await log.setStreamMetadata('sensor', { maxAge: 1 });
      await sleep(20);
      assert.deepEqual(await collect(log.read('sensor')), []);
      await log.close();
    });

    it('keeps the metadata history in the metadata stream and answers the current one', async () => {
      const log = await make();
      await given(log, 'user-1', 1);
      await log.setStreamMetadata('user-1', { maxCount: 10, custom: { owner: 'billing' } }, { expected: 'empty' });
      await log.setStreamMetadata('user-1', { maxCount: 20 }, { expected: 1 });
      const history = await collect(log.read('$$user-1'));
      assert.deepEqual(
        history.map((event) => event.type),
        ['$metadata', '$metadata'],
      );
      assert.deepEqual(await log.getStreamMetadata('user-1'), {
        stream: 'user-1',
        metadata: { maxCount: 20 },
        metadataCount: 2,
        count: 1,
        deleted: false,
        tombstoned: false,
        erased: false,
      });
      await log.close();
    });

    it('checks the expected count of the metadata stream', async () => {
      const log = await make();
      await log.setStreamMetadata('a', { maxCount: 1 }, { expected: 0 });
      await assert.rejects(log.setStreamMetadata('a', { maxCount: 2 }, { expected: 0 }), (error: unknown) => {
        assert.ok(error instanceof WrongExpectedCountError);
        assert.equal(error.stream, '$$a');
        assert.equal(error.actual, 1);
        return true;
      });
      assert.deepEqual((await log.getStreamMetadata('a')).metadata, { maxCount: 1 });
      await log.close();
    });

    it('refuses bad metadata and bad stream names with typed errors, writing nothing', async () => {
      const log = await make();
      const invalid = (field: string, value: unknown) => (error: unknown) => {
        assert.ok(error instanceof InvalidMetadataError, String(error));
        assert.equal(error.field, field);
        assert.deepEqual(error.value, value);
        return true;
      };
      await assert.rejects(log.setStreamMetadata('s', { maxCount: -1 }), invalid('maxCount', -1));
      await assert.rejects(log.setStreamMetadata('s', { maxAge: 1.5 }), invalid('maxAge', 1.5));
      await assert.rejects(log.setStreamMetadata('s', { truncateBefore: -2 }), invalid('truncateBefore', -2));
      await assert.rejects(
        log.setStreamMetadata('s', { maxCont: 3 } as unknown as { maxCount: number }),
        invalid('maxCont', 3),
      );
      await assert.rejects(
        log.setStreamMetadata('s', { custom: [1] } as unknown as { custom: Record<string, number> }),
        invalid('custom', [1]),
      );
      await assert.rejects(log.setStreamMetadata('$$s', { maxCount: 1 }), InvalidStreamError);
      await assert.rejects(log.setStreamMetadata('', { maxCount: 1 }), InvalidStreamError);
      await assert.rejects(log.deleteStream('$internal'), InvalidStreamError);
      await assert.rejects(log.getStreamMetadata(''), InvalidStreamError);
      assert.equal(await log.headPosition(), -1, 'nothing was written');
      await log.close();
    });
  });

  describe(`${label}: deleting streams`, () => {
    it('a soft delete hides every event so far; the stream is written again with its indexes continuing', async () => {
      const log = await make();
      await given(log, 'basket', 3);
      await log.deleteStream('basket', { expected: 3 });
      assert.deepEqual(await collect(log.read('basket')), []);
      assert.equal(await log.count('basket'), 3);
      assert.equal((await log.getStreamMetadata('basket')).deleted, true);
      const again = await log.append('basket', { type: 'Happened' }, { expected: 3 });
      assert.equal(again.index, 3);
      assert.deepEqual(await indexes(log.read('basket')), ['basket#3']);
      const after = await log.getStreamMetadata('basket');
      assert.equal(after.deleted, false);
      assert.equal(after.metadata.truncateBefore, 3);
      await log.close();
    });

    it('a delete checks the expected count of the stream it deletes', async () => {
      const log = await make();
      await given(log, 'basket', 2);
      await assert.rejects(log.deleteStream('basket', { expected: 1 }), (error: unknown) => {
        assert.ok(error instanceof WrongExpectedCountError);
        assert.equal(error.stream, 'basket');
        assert.equal(error.actual, 2);
        return true;
      });
      assert.equal((await collect(log.read('basket'))).length, 2, 'nothing was deleted');
      await log.close();
    });

    it('a tombstone refuses every later append and metadata change, and the stream reads empty', async () => {
      const log = await make();
      await given(log, 'account', 2);
      await log.append('neighbour', { type: 'Kept' });
      await log.deleteStream('account', { tombstone: true });
      const deleted = (error: unknown) => {
        assert.ok(error instanceof StreamDeletedError, String(error));
        assert.equal(error.stream, 'account');
        return true;
      };
      await assert.rejects(log.append('account', { type: 'Late' }), deleted);
      await assert.rejects(log.appendMany([{ stream: 'account', events: [{ type: 'Late' }] }]), deleted);
      await assert.rejects(log.setStreamMetadata('account', { maxCount: 1 }), deleted);
      await assert.rejects(log.deleteStream('account'), deleted);
      assert.deepEqual(await collect(log.read('account')), []);
      const all = (await indexes(log.readAll())).filter((name) => !name.startsWith('$$'));
      assert.deepEqual(all, ['neighbour#0']);
      const listed = (await collect(log.streams())).map((info) => info.stream);
      assert.ok(!listed.includes('account'), `listed: ${listed.join(', ')}`);
      assert.equal((await log.getStreamMetadata('account')).tombstoned, true);
      assert.deepEqual(await indexes(log.read('neighbour')), ['neighbour#0'], 'other streams are untouched');
      await log.close();
    });

    it('an erasure tombstones the stream, once; a second one and bad input get typed errors', async () => {
      const log = await make();
      await given(log, 'person', 3);
      const { position } = await log.erase('person', { expected: 3 });
      assert.ok(position >= 3, `erased at ${position}`);
      assert.deepEqual(await collect(log.read('person')), []);
      const metadata = await log.getStreamMetadata('person');
      assert.equal(metadata.tombstoned, true);
      assert.equal(metadata.erased, true);
      assert.equal(metadata.count, 3);
      await assert.rejects(log.erase('person'), StreamDeletedError);
      await assert.rejects(log.append('person', { type: 'Late' }), StreamDeletedError);
      await given(log, 'other', 1);
      await assert.rejects(log.erase('other', { expected: 5 }), WrongExpectedCountError);
      await assert.rejects(log.erase(''), InvalidStreamError);
      assert.equal((await log.getStreamMetadata('other')).tombstoned, false);
      await log.close();
    });
  });
}
