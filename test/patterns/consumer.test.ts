import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkpointStream, consume, type ConsumerState } from '../../src/patterns/index.js';
import type { Event, EventLog } from '../../src/types/index.js';
import { eventJson } from '../../src/types/json.js';
import { until } from '../support/until.js';
import { TARGETS } from './targets.js';

async function appendMany(log: EventLog, stream: string, from: number, to: number): Promise<number[]> {
  const positions = [];
  for (let i = from; i < to; i++) positions.push((await log.append(stream, { type: 'Mail', data: { i } })).position);
  return positions;
}

for (const { name, make } of TARGETS) {
  describe(`checkpointed consumer (${name})`, () => {
    it('a consumer that dies between handling and checkpointing resumes at its checkpoint: at least once, nothing skipped', async () => {
      const target = await make();
      // A checkpoint is an event too: mail and checkpoints share the log's positions.
      const mail = new Map<number, number>();
      const record = (event: Event, into: number[]) => {
        const i = eventJson<{ i: number }>(event).i;
        mail.set(i, event.position);
        into.push(i);
      };
      await appendMany(target.log, 'mail', 0, 12);
      await target.log.append('other', { type: 'Noise' });
      const handled: number[] = [];
      const first = await consume(target.log, {
        name: 'mailer',
        filter: { streams: ['mail'] },
        checkpointEvery: 5,
        handler: (event) => record(event, handled),
      });
      await until('12 handled', () => handled.length >= 12);
      assert.equal(
        first.status().checkpoint,
        mail.get(9),
        'checkpoints after the 5th and 10th: the last covers mail 9',
      );
      // It dies: the log goes away under it before it writes another checkpoint.
      await target.log.close();
      assert.equal((await first.done).state, 'failed');
      const log = await target.another();
      await appendMany(log, 'mail', 12, 15);
      const again: number[] = [];
      const second = await consume(log, {
        name: 'mailer',
        filter: { streams: ['mail'] },
        checkpointEvery: 5,
        handler: (event) => record(event, again),
      });
      await until('the rest handled', () => again.includes(14));
      assert.deepEqual(
        again,
        [10, 11, 12, 13, 14],
        'it resumed after its checkpoint: 10 and 11 a second time (at least once), none skipped',
      );
      const stopped = await second.stop();
      assert.equal(stopped.state, 'stopped');
      assert.equal(stopped.checkpoint, mail.get(14), 'stop() writes a checkpoint at the last handled event');
      const checkpoints = [];
      for await (const event of log.read(checkpointStream('mailer')))
        checkpoints.push(eventJson<{ position: number }>(event).position);
      assert.deepEqual(checkpoints, [mail.get(4), mail.get(9), mail.get(14)]);
      await target.close();
    });

    it('two instances with one name fence each other: only one advances the checkpoint, the other stops as fenced', async () => {
      const target = await make();
      const other = await target.alongside();
      const states: ConsumerState[] = [];
      const handlers = [target.log, other].map((log) =>
        consume(log, {
          name: 'dup',
          filter: { streams: ['work'] },
          checkpointEvery: 1,
          handler: () => undefined,
          onState: (s) => states.push(s.state),
        }),
      );
      const [a, b] = await Promise.all(handlers);
      const work = await appendMany(target.log, 'work', 0, 20);
      await until('one fenced', () => [a!, b!].some((c) => c.status().state === 'fenced'));
      const fenced = [a!, b!].filter((c) => c.status().state === 'fenced');
      assert.equal(fenced.length, 1, 'exactly one is fenced');
      const winner = [a!, b!].find((c) => c.status().state !== 'fenced')!;
      await until('the winner handled all', () => winner.status().position >= work[19]!);
      await winner.stop();
      const checkpoints = [];
      for await (const event of target.log.read(checkpointStream('dup')))
        checkpoints.push(eventJson<{ position: number }>(event).position);
      for (let i = 1; i < checkpoints.length; i++)
        assert.ok(checkpoints[i]! > checkpoints[i - 1]!, `the checkpoints only go forward: ${checkpoints.join(', ')}`);
      assert.equal(checkpoints[checkpoints.length - 1], work[19]);
      await target.close();
    });

    it('a failing handler pauses the consumer: backoff, the breaker opens and probes, and it resumes where it stopped once the dependency is back', async () => {
      const target = await make();
      let dependencyUp = true;
      const delivered: number[] = [];
      const positions = new Map<number, number>();
      const attempts = new Map<number, number>();
      const states: ConsumerState[] = [];
      const consumer = await consume(target.log, {
        name: 'flaky',
        filter: { streams: ['mail'] },
        checkpointEvery: 2,
        retry: { initialDelayMs: 5, maxDelayMs: 20, breakerFailures: 3, probeEveryMs: 50 },
        onState: (s) => states.push(s.state),
        handler: (event) => {
          const i = eventJson<{ i: number }>(event).i;
          positions.set(i, event.position);
          attempts.set(i, (attempts.get(i) ?? 0) + 1);
          if (!dependencyUp && i >= 3) throw new Error('smtp is down');
          delivered.push(i);
        },
      });
      await appendMany(target.log, 'mail', 0, 3);
      await until('0–2 delivered', () => delivered.length === 3);
      dependencyUp = false;
      await appendMany(target.log, 'mail', 3, 8);
      await until('the breaker to open', () => consumer.status().state === 'open');
      assert.equal(consumer.status().lastError, 'smtp is down');
      assert.equal(consumer.status().position, positions.get(2), 'it did not move past the failing event');
      const probesBefore = attempts.get(3)!;
      await new Promise((resolve) => setTimeout(resolve, 220));
      const probes = attempts.get(3)! - probesBefore;
      assert.ok(probes >= 2 && probes <= 6, `open, it probes about every 50 ms: ${probes} in 220 ms`);
      dependencyUp = true;
      await until('all delivered', () => delivered.length === 8);
      assert.deepEqual(delivered, [0, 1, 2, 3, 4, 5, 6, 7], 'in order, each once, none skipped');
      assert.deepEqual([...new Set(states)], ['retrying', 'open', 'running']);
      assert.equal(consumer.status().failures, 0);
      await consumer.stop();
      await target.close();
    });

    it('bad options are refused with what was expected', async () => {
      const target = await make();
      await assert.rejects(
        consume(target.log, { name: 'bad name!', handler: () => undefined }),
        /invalid consumer name "bad name!"/,
      );
      await assert.rejects(consume(target.log, { name: 'ok', handler: 'no' as never }), /invalid handler "no"/);
      await assert.rejects(
        consume(target.log, { name: 'ok', handler: () => undefined, checkpointEvery: 0 }),
        /invalid checkpointEvery 0/,
      );
      await assert.rejects(
        consume(target.log, { name: 'ok', handler: () => undefined, retry: { probeEveryMs: -5 } }),
        /invalid retry.probeEveryMs -5/,
      );
      await assert.rejects(target.log.append('$elsewhere', { type: 'T' }), /reserved for Ordo/);
      await target.close();
    });
  });
}
