import assert from 'node:assert/strict';
import { cp, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { open, type EmbeddedEventLog, type WriteOutcome, type WriteRequest } from '../../src/node/index.js';
import { verifyLog } from '../../src/node/verify.js';
import { prepareEvents } from '../../src/types/validate.js';
import { tempDir } from '../support/temp-dir.js';
import { collect } from '../conformance/event-log-suite.js';

const KEY = '00000000-0000-4000-8000-0000000c0ffe';
const CHECKPOINT_WAIT_ATTEMPTS = 500;
const CHECKPOINT_POLL_MS = 10;

/** An append as the client library sends it: its first event's id is one it made up, a retry key. */
function clientAppend(resent: boolean): WriteRequest {
  const events = prepareEvents([{ id: KEY, type: 'Paid' }, { type: 'Shipped' }], 1024 * 1024);
  events[0]!.retryKey = true;
  return { parts: [{ stream: 'order-7', expected: 'any', events }], ack: 'quorum', resent };
}

async function writeOne(log: EmbeddedEventLog, request: WriteRequest): Promise<WriteOutcome> {
  const [outcome] = await log.write([request]);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}

async function checkpointAtOrAfter(dir: string, position: number): Promise<void> {
  for (let attempt = 0; attempt < CHECKPOINT_WAIT_ATTEMPTS; attempt++) {
    const files = await readdir(join(dir, 'checkpoints')).catch(() => [] as string[]);
    if (files.some((file) => file.endsWith('.ckpt') && Number(file.slice(0, -5)) >= position)) return;
    await new Promise((resolve) => setTimeout(resolve, CHECKPOINT_POLL_MS));
  }
  throw new Error(`no checkpoint at or after ${position} in ${dir}`);
}

async function assertAnsweredOnce(log: EmbeddedEventLog, original: WriteOutcome): Promise<void> {
  const again = await writeOne(log, clientAppend(true));
  assert.deepEqual(again.parts, original.parts, 'the re-sent append is answered with the original result');
  assert.equal(again.written, false, 'nothing is written for the re-send');
  const types = (await collect(log.read('order-7'))).map((event) => event.type);
  assert.deepEqual(types, ['Paid', 'Shipped'], 'the log holds one copy');
}

describe('retry keys across restarts', () => {
  it('a client that re-sends an unanswered append after a clean restart gets the original result, and the log holds one copy', async () => {
    // Given an append the client never heard back from, before a clean close (which checkpoints)
    const dir = await tempDir();
    const first = await open(dir);
    const original = await writeOne(first, clientAppend(false));
    await first.append('other', { type: 'Later' });
    await first.close();
    // When the client re-sends it, with the same ids, to the reopened log
    const reopened = await open(dir);
    assert.ok(
      reopened.openReport.checkpointPosition >= original.parts[0]!.position,
      'the original is in the checkpoint',
    );
    // Then the re-send is recognised
    await assertAnsweredOnce(reopened, original);
    await reopened.close();
    assert.deepEqual((await verifyLog(dir)).problems, []);
  });

  it('a client that re-sends an unanswered append after a crash that followed a periodic checkpoint gets the original result, and the log holds one copy', async () => {
    // Given an append the client never heard back from, then more appends and a periodic checkpoint past it
    const dir = await tempDir();
    const running = await open(dir, { checkpointEvery: 1 });
    const original = await writeOne(running, clientAppend(false));
    for (let i = 0; i < 5; i++) await running.append('other', { type: 'Later' });
    await checkpointAtOrAfter(dir, original.parts[0]!.position + 1); // the append's second event
    // When the process dies (its directory as it stands, without the lock) and restarts
    const crashed = await tempDir();
    await cp(dir, crashed, { recursive: true, filter: (source) => basename(source) !== 'LOCK' });
    const restarted = await open(crashed);
    assert.ok(
      restarted.openReport.checkpointPosition >= original.parts[0]!.position,
      'the original is in the checkpoint',
    );
    // Then the client's re-send is recognised
    await assertAnsweredOnce(restarted, original);
    await restarted.close();
    await running.close();
  });
});
