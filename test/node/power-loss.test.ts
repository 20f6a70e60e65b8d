import assert from 'node:assert/strict';
import { open as openFile, stat } from 'node:fs/promises';
import { it } from 'node:test';
import { verifyLog } from '../../src/node/verify.js';
import { seededRandom } from '../../src/raft/index.js';
import { tempDir } from '../support/temp-dir.js';
import { checkAcknowledged, runCrashChild, type Ack } from './crash-runner.js';

/**
 * The power goes: of what each segment file holds beyond its last fdatasync, the disk kept a
 * random part, or kept the size but lost the data (zeros), as file systems do.
 */
async function losePower(
  durable: Map<string, number>,
  random: ReturnType<typeof seededRandom>,
): Promise<{ files: number; droppedBytes: number }> {
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
    const { acks, durable } = await runCrashChild(dir, round, {
      flags: ['report-syncs', `die-after=${100 + random.int(400)}`, `die-delay=${random.int(4)}`],
    });
    acknowledged.push(...acks);
    const lost = await losePower(durable, random);
    if (lost.files > 0) lossy++;
    t.diagnostic(
      `round ${round + 1}: ${acks.length} acknowledged, ${lost.droppedBytes} unsynced bytes dropped in ${lost.files} file(s)`,
    );
    const report = await verifyLog(dir);
    assert.deepEqual(
      report.problems.filter((p) => !/torn|truncat/i.test(p)),
      [],
      `verify after power loss ${round + 1}`,
    );
    await checkAcknowledged(dir, acknowledged, `power loss ${round + 1}`);
    assert.deepEqual((await verifyLog(dir)).problems, [], `verify after reopening ${round + 1}`);
  }
  assert.ok(lossy >= 1, 'at least one power loss dropped unsynced bytes');
});
