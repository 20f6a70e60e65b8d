import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { open } from '../../src/node/index.js';
import { verifyLog } from '../../src/node/verify.js';
import type { Event } from '../../src/types/index.js';
import { INDEX_SUFFIX, SEGMENT_SUFFIX, parseSegmentName, segmentName } from '../../src/storage/segment-file.js';
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

/** A log of 100 events in 4 KiB segments: its directory, segments folder and segment bases in order. */
async function smallSegments(): Promise<{ dir: string; segments: string; bases: number[] }> {
  const dir = await tempDir('ordo-crash-roll');
  const segments = join(dir, 'segments');
  const log = await open(dir, { segmentBytes: 4096 });
  for (let i = 0; i < 100; i++) await log.append('s', { type: 'T', data: 'x'.repeat(50) });
  await log.close();
  const bases = (await readdir(segments))
    .map(parseSegmentName)
    .filter((b): b is number => b !== undefined)
    .sort((a, b) => a - b);
  return { dir, segments, bases };
}

it("a crash between a sealed segment's index file and the next segment leaves a directory that verify and open accept", async () => {
  const { dir, segments, bases } = await smallSegments();
  // The state a kill leaves in roll() after the index file's rename, before the next segment's:
  // the newest sealed segment is the last one, with its (then current) index file.
  const last = bases[bases.length - 2]!;
  for (const base of bases.filter((b) => b > last)) {
    await rm(join(segments, segmentName(base)));
    await rm(join(segments, segmentName(base).replace(SEGMENT_SUFFIX, INDEX_SUFFIX)), { force: true });
  }
  // What the clean close wrote did not exist at that moment either: its raft-state (whose commit
  // index covers the removed entries) and its checkpoint.
  await rm(join(dir, 'raft-state'));
  await rm(join(dir, 'checkpoints'), { recursive: true });
  assert.ok((await readdir(segments)).includes(segmentName(last).replace(SEGMENT_SUFFIX, INDEX_SUFFIX)));
  assert.deepEqual((await verifyLog(dir)).problems, [], 'verify after the crash');
  // Reopened with larger segments, appends go on into that segment, past its index file's length.
  const reopened = await open(dir);
  for (let i = 0; i < 3; i++) await reopened.append('s', { type: 'Y' });
  await reopened.close();
  assert.deepEqual((await verifyLog(dir)).problems, [], 'verify after reopening');
  assert.ok(
    !(await readdir(segments)).includes(segmentName(last).replace(SEGMENT_SUFFIX, INDEX_SUFFIX)),
    "open removes the active segment's leftover index file",
  );
  // And once it is sealed, its index file is current again.
  const rolled = await open(dir, { segmentBytes: 4096 });
  await rolled.append('s', { type: 'Z' });
  await rolled.close();
  assert.deepEqual((await verifyLog(dir)).problems, [], 'verify after the next roll');
  const all = await open(dir);
  const events: Event[] = [];
  for await (const event of all.readAll()) events.push(event);
  await all.close();
  assert.deepEqual(
    events.map((e) => e.position),
    events.map((_, i) => i),
    'positions have no gaps',
  );
  assert.deepEqual(
    events.slice(-4).map((e) => e.type),
    ['Y', 'Y', 'Y', 'Z'],
  );
});

it('verify ignores an index file beside the last segment, which open does not read', async () => {
  const { dir, segments, bases } = await smallSegments();
  assert.ok(bases.length > 1);
  await writeFile(join(segments, segmentName(bases[bases.length - 1]!).replace(SEGMENT_SUFFIX, INDEX_SUFFIX)), 'stale');
  assert.deepEqual((await verifyLog(dir)).problems, []);
  // A sealed segment's is still checked.
  await writeFile(join(segments, segmentName(bases[0]!).replace(SEGMENT_SUFFIX, INDEX_SUFFIX)), 'stale');
  assert.match((await verifyLog(dir)).problems.join('\n'), /damaged or stale index file/);
});

it('kill -9 while retention removes segments: the log start moves forward only, and everything after it that was acknowledged is there', async () => {
  const dir = await tempDir('ordo-crash-retention');
  const acknowledged: Ack[] = [];
  let first = 0;
  for (let round = 0; round < 4; round++) {
    const { acks } = await runCrashChild(dir, round, { killAfterAcks: 300 + round * 150, flags: ['retention=200000'] });
    acknowledged.push(...acks);
    assert.deepEqual((await verifyLog(dir)).problems, [], `verify after kill ${round + 1}`);
    await checkAcknowledged(dir, acknowledged, `kill ${round + 1}`);
    const log = await open(dir);
    assert.ok(log.firstPosition >= first, `the start went back from ${first} to ${log.firstPosition}`);
    first = log.firstPosition;
    await log.close();
  }
  assert.ok(first > 0, 'retention removed segments during the run');
});

it('kill -9 while scavenging rewrites segments: every acknowledged append is there, and every hole is an event gone for good', async () => {
  const dir = await tempDir('ordo-crash-scavenge');
  const acknowledged: Ack[] = [];
  let holes = 0;
  for (let round = 0; round < 4; round++) {
    const { acks } = await runCrashChild(dir, round, { killAfterAcks: 400 + round * 150, flags: ['scavenge'] });
    acknowledged.push(...acks);
    const report = await verifyLog(dir);
    assert.deepEqual(report.problems, [], `verify after kill ${round + 1}`);
    holes = Math.max(holes, report.holes);
    await checkAcknowledged(dir, acknowledged, `kill ${round + 1}`, true);
  }
  assert.ok(holes > 0, 'scavenging removed events during the run');
});
