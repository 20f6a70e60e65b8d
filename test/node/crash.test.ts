import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { open } from '../../src/node/index.js';
import { verifyLog } from '../../src/node/verify.js';
import type { Event } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

interface Ack {
  id: string;
  stream: string;
  size: number;
  position: number;
  index: number;
  count: number;
}

/** Runs the child until it has acknowledged some appends, kills it with SIGKILL, returns the acks. */
async function runAndKill(dir: string, run: number, killAfterAcks: number): Promise<Ack[]> {
  const process = spawn('node', [child, dir, String(run)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks: Ack[] = [];
  let buffered = '';
  let ready = false;
  process.stdout.setEncoding('utf8');
  process.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line) acks.push(JSON.parse(line) as Ack);
    }
  });
  const exited = new Promise<void>((resolve) => process.once('exit', () => resolve()));
  const deadline = Date.now() + 20_000;
  while ((!ready || acks.length < killAfterAcks) && Date.now() < deadline) await sleep(5);
  process.kill('SIGKILL');
  await exited;
  assert.ok(acks.length >= killAfterAcks, `child acknowledged only ${acks.length} appends in 20 s`);
  return acks;
}

it('kill -9 in the middle of pipelined appends loses nothing that was acknowledged', async () => {
  const dir = await tempDir('ordo-crash');
  const acknowledged: Ack[] = [];
  for (let round = 0; round < 4; round++) {
    acknowledged.push(...(await runAndKill(dir, round, 300 + round * 150)));
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems, [], `verify after kill ${round + 1}`);
    const log = await open(dir);
    try {
      const byPosition = new Map<number, Event>();
      for await (const event of log.readAll()) byPosition.set(event.position, event);
      for (const ack of acknowledged) {
        const event = byPosition.get(ack.position);
        assert.ok(event, `acknowledged append at position ${ack.position} is missing after kill ${round + 1}`);
        assert.equal(event.id, ack.id);
        assert.equal(event.stream, ack.stream);
        assert.equal(event.index, ack.index);
      }
      const positions = [...byPosition.keys()];
      assert.deepEqual(positions, positions.map((_, i) => i), 'positions have no gaps');
      const ids = [...byPosition.values()].map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'no event is duplicated');
    } finally {
      await log.close();
    }
  }
});
