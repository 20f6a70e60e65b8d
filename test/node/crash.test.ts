import assert from 'node:assert/strict';
import { it } from 'node:test';
import { verifyLog } from '../../src/node/verify.js';
import { tempDir } from '../support/temp-dir.js';
import { checkAcknowledged, runCrashChild, type Ack } from './crash-runner.js';

it('kill -9 in the middle of pipelined appends, segment rolls and checkpoints loses nothing that was acknowledged', async () => {
  const dir = await tempDir('ordo-crash');
  const acknowledged: Ack[] = [];
  for (let round = 0; round < 4; round++) {
    const { acks } = await runCrashChild(dir, round, { killAfterAcks: 300 + round * 150 });
    acknowledged.push(...acks);
    assert.deepEqual((await verifyLog(dir)).problems, [], `verify after kill ${round + 1}`);
    await checkAcknowledged(dir, acknowledged, `kill ${round + 1}`);
  }
});
