import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { open as openFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { open } from '../../src/node/index.js';
import { verifyLog } from '../../src/node/verify.js';
import { seededRandom } from '../../src/raft/index.js';
import type { Event } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';

const child = fileURLToPath(new URL('./power-loss-child.js', import.meta.url));

interface Ack {
  id: string;
  stream: string;
  position: number;
  index: number;
}

/**
 * Runs the child until it has acknowledged `acksWanted` appends, kills it (SIGKILL), and
 * returns its acknowledgements with the bytes each segment file had made durable.
 */
async function runAndKill(dir: string, run: number, acksWanted: number, delayMs: number): Promise<{ acks: Ack[]; durable: Map<string, number> }> {
  const process = spawn('node', [child, dir, String(run), String(acksWanted), String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acks: Ack[] = [];
  const durable = new Map<string, number>();
  let buffered = '';
  let ready = false;
  process.stdout.setEncoding('utf8');
  process.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('ack ')) acks.push(JSON.parse(line.slice(4)) as Ack);
      else if (line.startsWith('sync ')) {
        const at = line.lastIndexOf(' ');
        durable.set(line.slice(5, at), Number(line.slice(at + 1)));
      }
    }
  });
  // 'close', not 'exit': every line it wrote before it died must be read.
  const closed = new Promise<void>((resolve) => process.once('close', () => resolve()));
  const timer = setTimeout(() => process.kill('SIGKILL'), 20_000);
  await closed;
  clearTimeout(timer);
  void ready;
  assert.ok(acks.length >= acksWanted, `the child acknowledged only ${acks.length} appends in 20 s`);
  return { acks, durable };
}

/**
 * The power goes: of what each segment file holds beyond its last fdatasync, the disk kept a
 * random part, or kept the size but lost the data (zeros), as file systems do.
 */
async function losePower(durable: Map<string, number>, random: ReturnType<typeof seededRandom>): Promise<{ files: number; droppedBytes: number }> {
  let files = 0;
  let droppedBytes = 0;
  for (const [file, synced] of durable) {
    const size = (await stat(file).catch(() => undefined))?.size;
    if (size === undefined || size <= synced) continue;
    files++;
    const kept = synced + random.int(size - synced + 1);
    droppedBytes += size - kept;
    const handle = await openFile(file, 'r+');
    try {
      if (random.int(2) === 0) await handle.truncate(kept);
      else await handle.write(Buffer.alloc(size - kept), 0, size - kept, kept);
    } finally {
      await handle.close();
    }
  }
  return { files, droppedBytes };
}

it('power loss: writes after the last fdatasync are dropped (cut or zeroed) at random points during appends, segment rolls and checkpoints; nothing acknowledged is lost', async (t) => {
  const dir = await tempDir('ordo-power-loss');
  const random = seededRandom(20261201);
  const acknowledged: Ack[] = [];
  let lossy = 0;
  const ROUNDS = 10;
  for (let round = 0; round < ROUNDS; round++) {
    const { acks, durable } = await runAndKill(dir, round, 100 + random.int(400), random.int(4));
    acknowledged.push(...acks);
    const lost = await losePower(durable, random);
    if (lost.files > 0) lossy++;
    t.diagnostic(`round ${round + 1}: ${acks.length} acknowledged, ${lost.droppedBytes} unsynced bytes dropped in ${lost.files} file(s)`);
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems.filter((p) => !/torn|truncat/i.test(p)), [], `verify after power loss ${round + 1}`);
    const log = await open(dir);
    try {
      const byPosition = new Map<number, Event>();
      for await (const event of log.readAll()) byPosition.set(event.position, event);
      for (const ack of acknowledged) {
        const event = byPosition.get(ack.position);
        assert.ok(event, `acknowledged append at position ${ack.position} is missing after power loss ${round + 1}`);
        assert.equal(event.id, ack.id);
        assert.equal(event.stream, ack.stream);
        assert.equal(event.index, ack.index);
      }
      const positions = [...byPosition.keys()];
      assert.deepEqual(positions, positions.map((_, i) => i), 'positions have no gaps');
      const ids = [...byPosition.values()].map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'no event is duplicated');
      // And it takes appends again, after the recovered prefix.
      const next = await log.append('after', { type: 'T' });
      assert.equal(next.position, positions.length);
    } finally {
      await log.close();
    }
    assert.deepEqual((await verifyLog(dir)).problems, [], `verify after reopening ${round + 1}`);
  }
  assert.ok(lossy >= 1, 'at least one power loss dropped unsynced bytes');
});
