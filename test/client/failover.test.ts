import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import type { Event } from '../../src/types/index.js';
import { eventJson } from '../../src/types/json.js';
import { collect } from '../conformance/event-log-suite.js';
import { killHard, startServerProcess, stopGracefully, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const running: ServerProcess[] = [];
after(async () => {
  for (const server of running) await killHard(server);
});

async function start(dir: string, ports?: { port: number; httpPort: number }): Promise<ServerProcess> {
  const server = await startServerProcess(dir, ports);
  running.push(server);
  return server;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('connect(): the server is killed (kill -9) and restarted', () => {
  it('pipelined appends: every acknowledged event is in the log exactly once, in each writer’s order', async () => {
    const dir = await tempDir();
    let server = await start(dir);
    const log = await connect(server.urls.tcp, { reconnectDelayMs: 20, maxReconnectDelayMs: 200, timeoutMs: 20_000 });
    const WRITERS = 8;
    const PER_WRITER = 400;
    const acknowledged: Array<Array<{ seq: number; position: number }>> = Array.from({ length: WRITERS }, () => []);
    const writers = Array.from({ length: WRITERS }, (_, w) =>
      (async () => {
        // Several appends in flight per writer: pipelined, and some unanswered when the server dies.
        const inFlight = new Set<Promise<void>>();
        for (let seq = 0; seq < PER_WRITER; seq++) {
          const append = log.append(`writer-${w}`, { type: 'Seq', data: { w, seq } }).then((result) => {
            acknowledged[w]!.push({ seq, position: result.position });
          });
          inFlight.add(append);
          void append.finally(() => inFlight.delete(append));
          if (inFlight.size >= 16) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
      })(),
    );
    await sleep(150);
    await killHard(server);
    await sleep(300); // clients retry against a dead server meanwhile
    server = await start(dir, server);
    await Promise.all(writers);

    const events = await collect(log.readAll());
    const ids = new Set(events.map((e) => e.id));
    assert.equal(ids.size, events.length, 'no event id appears twice in the log');
    const seen = new Map<string, Event>();
    for (const event of events) {
      const { w, seq } = eventJson(event) as { w: number; seq: number };
      const key = `${w}/${seq}`;
      assert.ok(
        !seen.has(key),
        `event ${key} was written twice (positions ${seen.get(key)?.position} and ${event.position})`,
      );
      seen.set(key, event);
    }
    for (let w = 0; w < WRITERS; w++) {
      assert.equal(acknowledged[w]!.length, PER_WRITER, `every append of writer ${w} was eventually acknowledged`);
      for (const { seq, position } of acknowledged[w]!) {
        const event = seen.get(`${w}/${seq}`);
        assert.ok(event, `acknowledged event ${w}/${seq} is missing`);
        assert.equal(event.position, position, `acknowledged event ${w}/${seq} is at the position its ack gave`);
      }
    }
    assert.equal(events.length, WRITERS * PER_WRITER);
    assert.deepEqual(
      events.map((e) => e.position),
      events.map((_, i) => i),
      'positions have no gap',
    );
    await log.close();
    assert.equal(await stopGracefully(server), 0);
  });

  it('a subscription resumes after the restart from the last position it delivered: no gap, no duplicate', async () => {
    const dir = await tempDir();
    let server = await start(dir);
    const writer = await connect(server.urls.tcp, { reconnectDelayMs: 20, maxReconnectDelayMs: 200 });
    const reader = await connect(server.urls.ws, {
      reconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
      subscriptionWindow: 64,
    });
    const TOTAL = 3000;
    const positions: number[] = [];
    const subscription = reader.subscribe({ from: 'start' });
    const reading = (async () => {
      for await (const event of subscription) {
        positions.push((event as Event).position);
        if (positions.length % 50 === 0) await sleep(1); // a consumer slower than the writer
        if (positions.length === TOTAL) return;
      }
    })();
    const writing = (async () => {
      for (let i = 0; i < TOTAL / 10; i++)
        await writer.append(
          'feed',
          Array.from({ length: 10 }, (_, k) => ({ type: 'Item', data: i * 10 + k })),
        );
    })();
    while (positions.length < 500) await sleep(10);
    await killHard(server);
    await sleep(200);
    server = await start(dir, server);
    await writing;
    await reading;
    assert.deepEqual(
      positions,
      Array.from({ length: TOTAL }, (_, i) => i),
      'every position once, in order',
    );
    subscription.close();
    await writer.close();
    await reader.close();
    assert.equal(await stopGracefully(server), 0);
  });

  it('SIGTERM: in-flight appends are answered, then the server exits 0 and the events are there', async () => {
    const dir = await tempDir();
    let server = await start(dir);
    const log = await connect(server.urls.tcp, { reconnectDelayMs: 20, timeoutMs: 20_000 });
    const appends = Array.from({ length: 500 }, (_, i) => log.append('s', { type: 'T', data: i }));
    await sleep(5); // some appends reach the server, some are still in the client
    let answeredBeforeExit = 0;
    for (const append of appends) void append.then(() => answeredBeforeExit++);
    assert.equal(await stopGracefully(server), 0);
    const answered = answeredBeforeExit;
    server = await start(dir, server);
    // Answered before the shutdown, or re-sent once the server is back: every append lands once.
    const results = await Promise.allSettled(appends);
    assert.ok(
      results.every((r) => r.status === 'fulfilled'),
      'no append failed',
    );
    assert.ok(answered > 0, 'the server answered the requests it had taken before exiting');
    assert.equal(await log.count('s'), 500);
    await log.close();
    assert.equal(await stopGracefully(server), 0);
  });

  it('requests made while the server is down wait for it, then each is sent once', async () => {
    const dir = await tempDir();
    let server = await start(dir);
    const log = await connect(server.urls.tcp, { reconnectDelayMs: 20, maxReconnectDelayMs: 100, timeoutMs: 20_000 });
    await log.append('s', { type: 'Before' });
    await killHard(server);
    await sleep(50);
    const during = Array.from({ length: 20 }, (_, i) => log.append('s', { type: 'During', data: i }));
    const count = log.count('s');
    await sleep(100);
    server = await start(dir, server);
    const results = await Promise.all(during);
    assert.deepEqual(
      results.map((r) => r.index).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.ok((await count) >= 1);
    const events = await collect(log.read('s'));
    assert.deepEqual(
      events
        .slice(1)
        .map((e) => eventJson(e))
        .sort((a, b) => (a as number) - (b as number)),
      Array.from({ length: 20 }, (_, i) => i),
    );
    await log.close();
    assert.equal(await stopGracefully(server), 0);
  });
});
