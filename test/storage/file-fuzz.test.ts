import assert from 'node:assert/strict';
import { cp, open as openFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import { open } from '../../src/node/index.js';
import { CorruptLogError, type Event } from '../../src/types/index.js';
import { tempDir } from '../support/temp-dir.js';

/** Runs per property in CI; ORDO_FUZZ_RUNS=2000 for a longer one. */
const RUNS = Number(process.env.ORDO_FUZZ_RUNS ?? 60);

/** A log of a few segments (small segment size), with checkpoints, closed cleanly; and its events. */
async function pristineLog(): Promise<{ dir: string; original: Event[] }> {
  const dir = await tempDir('ordo-fuzz-pristine');
  const log = await open(dir, { segmentBytes: 8 * 1024, checkpointEvery: 50 });
  for (let i = 0; i < 300; i++) await log.append(`s-${i % 5}`, { type: 'T', data: { i, pad: 'p'.repeat(i % 40) } });
  await log.close();
  const reopened = await open(dir);
  const original: Event[] = [];
  for await (const event of reopened.readAll()) original.push(event);
  await reopened.close();
  return { dir, original };
}

/** Every file the log keeps (segments, index files, checkpoints, raft-state), by path. */
async function filesOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !entry.name.endsWith('.lock')) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

type Damage =
  | { kind: 'flip'; file: number; at: number; bit: number }
  | { kind: 'truncate'; file: number; at: number }
  | { kind: 'garbage'; file: number; bytes: Uint8Array };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    file: fc.nat(),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    bit: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant('truncate' as const),
    file: fc.nat(),
    at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
  }),
  fc.record({
    kind: fc.constant('garbage' as const),
    file: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }),
  }),
);

async function apply(dir: string, d: Damage): Promise<string> {
  const files = await filesOf(dir);
  const file = files[d.file % files.length]!;
  const size = (await stat(file)).size;
  const handle = await openFile(file, 'r+');
  try {
    if (d.kind === 'flip' && size > 0) {
      const at = Math.floor(d.at * size);
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, at);
      byte[0] = byte[0]! ^ (1 << d.bit);
      await handle.write(byte, 0, 1, at);
    } else if (d.kind === 'truncate') {
      await handle.truncate(Math.floor(d.at * size));
    } else if (d.kind === 'garbage') {
      await handle.write(d.bytes, 0, d.bytes.length, size);
    }
  } finally {
    await handle.close();
  }
  return `${d.kind} ${file.slice(dir.length + 1)}`;
}

it('damaged files (bit flips, truncations, garbage appended, in any file of the log): open recovers a prefix of the original events or fails with CorruptLogError, and never returns an event that was not written', async (t) => {
  const { dir: pristine, original } = await pristineLog();
  let runs = 0;
  const outcomes = { recovered: 0, prefixShorter: 0, corrupt: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 3 }), async (damages) => {
      const dir = await tempDir(`ordo-fuzz-${runs++}`);
      await cp(pristine, dir, { recursive: true });
      const done: string[] = [];
      for (const d of damages) done.push(await apply(dir, d));
      let log: Awaited<ReturnType<typeof open>>;
      try {
        log = await open(dir);
      } catch (error) {
        assert.ok(
          error instanceof CorruptLogError,
          `after ${done.join(', ')}: open failed with ${(error as Error).constructor.name}: ${(error as Error).message}, not CorruptLogError`,
        );
        outcomes.corrupt++;
        return;
      }
      try {
        const events: Event[] = [];
        try {
          for await (const event of log.readAll()) events.push(event);
        } catch (error) {
          // A read may meet damage open did not scan (a sealed segment): it must say so, not return it.
          assert.ok(
            error instanceof CorruptLogError,
            `after ${done.join(', ')}: read failed with ${(error as Error).message}`,
          );
          outcomes.corrupt++;
          return;
        }
        assert.ok(
          events.length <= original.length,
          `after ${done.join(', ')}: ${events.length} events, more than the ${original.length} written`,
        );
        for (const [i, event] of events.entries()) {
          const expected = original[i]!;
          assert.equal(event.position, expected.position, `after ${done.join(', ')}`);
          assert.equal(event.id, expected.id, `after ${done.join(', ')}: event ${i} is not the one written`);
          assert.equal(event.stream, expected.stream);
          assert.equal(event.index, expected.index);
          assert.deepEqual(
            Buffer.from(event.data),
            Buffer.from(expected.data),
            `after ${done.join(', ')}: the data of event ${i} changed`,
          );
        }
        if (events.length === original.length) outcomes.recovered++;
        else outcomes.prefixShorter++;
      } finally {
        await log.close();
      }
    }),
    { numRuns: RUNS },
  );
  t.diagnostic(`${RUNS} damaged logs: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.corrupt > 0 && outcomes.recovered > 0, `both outcomes occur: ${JSON.stringify(outcomes)}`);
});
