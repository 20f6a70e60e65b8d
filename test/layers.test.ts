import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { tempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const repo = process.cwd();
const depcruise = join(repo, 'node_modules', '.bin', 'depcruise');

/** A copy of the layer config and tsconfig over a tiny tree of the given files. */
async function fixture(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('ordo-layers');
  await cp(join(repo, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  await cp(join(repo, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

async function cruise(dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout } = await run(depcruise, ['src', '--config', '.dependency-cruiser.cjs'], { cwd: dir });
    return { ok: true, output: stdout };
  } catch (error) {
    const failed = error as { stdout: string; stderr: string };
    return { ok: false, output: failed.stdout + failed.stderr };
  }
}

describe('layering check', () => {
  it('accepts imports that point down the layers', async () => {
    const dir = await fixture({
      'src/types/t.ts': 'export const t = 1;\n',
      'src/engine/e.ts': "import { t } from '../types/t.js';\nexport const e = t;\n",
      'src/node/n.ts': "import { e } from '../engine/e.js';\nexport const n = e;\n",
    });
    const result = await cruise(dir);
    assert.ok(result.ok, result.output);
  });

  it('fails when a lower layer imports a higher one', async () => {
    const dir = await fixture({
      'src/node/n.ts': 'export const n = 1;\n',
      'src/storage/s.ts': "import { n } from '../node/n.js';\nexport const s = n;\n",
    });
    const result = await cruise(dir);
    assert.equal(result.ok, false);
    assert.match(result.output, /storage-imports-a-higher-layer/);
  });

  it('fails when engine/ imports I/O or stream/ imports anything of Ordo', async () => {
    const dir = await fixture({
      'src/types/t.ts': 'export const t = 1;\n',
      'src/engine/e.ts': "import { readFileSync } from 'node:fs';\nexport const e = readFileSync;\n",
      'src/stream/s.ts': "import { t } from '../types/t.js';\nexport const s = t;\n",
    });
    const result = await cruise(dir);
    assert.equal(result.ok, false);
    assert.match(result.output, /pure-cores-do-no-io/);
    assert.match(result.output, /stream-depends-on-nothing/);
  });

  it('the purity scan fails on a clock read or Math.random in engine/ or raft/', async () => {
    const dir = await fixture({
      'src/engine/e.ts': 'export const now = () => Date.now();\n',
      'src/raft/r.ts': 'export const pick = () => Math.random();\n',
    });
    await assert.rejects(run('node', [join(repo, 'scripts', 'check-pure.mjs'), dir]), (error: unknown) => {
      const output = (error as { stderr: string }).stderr;
      assert.match(output, /e\.ts:1: reads the clock/);
      assert.match(output, /r\.ts:1: uses unseeded randomness/);
      return true;
    });
  });
});
