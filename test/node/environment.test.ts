import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from '../../src/node/index.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { seededRandom } from '../../src/raft/index.js';
import { tempDir } from '../support/temp-dir.js';
import { collect } from '../conformance/event-log-suite.js';

/** Node's file system, with every call counted by operation and every path it touched recorded. */
function recordingFileSystem(): { fs: FileSystem; calls: Map<string, number>; paths: Set<string> } {
  const calls = new Map<string, number>();
  const paths = new Set<string>();
  const count = (operation: string, path: string) => {
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    paths.add(path);
  };
  const fs: FileSystem = {
    open: (path, flags) => (count('open', path), nodeFileSystem.open(path, flags)),
    mkdir: (path, options) => (count('mkdir', path), nodeFileSystem.mkdir(path, options)),
    readdir: (path) => (count('readdir', path), nodeFileSystem.readdir(path)),
    readFile: (path) => (count('readFile', path), nodeFileSystem.readFile(path)),
    rename: (from, to) => (count('rename', to), nodeFileSystem.rename(from, to)),
    unlink: (path) => (count('unlink', path), nodeFileSystem.unlink(path)),
    rm: (path, options) => (count('rm', path), nodeFileSystem.rm(path, options)),
    stat: (path) => (count('stat', path), nodeFileSystem.stat(path)),
  };
  return { fs, calls, paths };
}

/** Fills bytes from a seeded generator: the same seed, the same bytes. */
function seededFill(seed: number): (target: Uint8Array) => void {
  const random = seededRandom(seed);
  return (target) => {
    for (let i = 0; i < target.length; i++) target[i] = random.int(256);
  };
}

describe('a node on an injected environment (what a simulation runs the real node on)', () => {
  it('given an injected file system, clock and randomness, every file, timestamp and generated id comes from them', async () => {
    const dir = await tempDir('ordo-environment');
    const recorded = recordingFileSystem();
    const environment = { clock: () => 1_700_000_000_000, randomFill: seededFill(7), random: seededRandom(7) };
    const log = await open(dir, { fileSystem: recorded.fs, environment });
    await log.append('s', [{ type: 'A' }, { type: 'B' }]);
    await log.close();

    const reopened = await open(dir, {
      fileSystem: recorded.fs,
      environment: { ...environment, randomFill: seededFill(7) },
    });
    const events = await collect(reopened.read('s'));
    await reopened.close();

    assert.deepEqual(
      events.map((event) => event.timestamp),
      [1_700_000_000_000, 1_700_000_000_000],
      'timestamps from the clock',
    );
    for (const operation of ['open', 'mkdir', 'readdir', 'rename']) {
      assert.ok((recorded.calls.get(operation) ?? 0) > 0, `the node's ${operation} calls went through the file system`);
    }
    const touched = [...recorded.paths].map((path) => path.slice(dir.length));
    for (const part of ['/segments', '/checkpoints', '/raft-state', '/LOCK']) {
      assert.ok(
        touched.some((path) => path.startsWith(part)),
        `${part} was reached through the file system (touched: ${touched.join(', ')})`,
      );
    }

    // The same seed gives the same generated ids: a run is repeatable.
    const again = await open(await tempDir('ordo-environment'), {
      environment: { ...environment, randomFill: seededFill(7) },
    });
    await again.append('s', [{ type: 'A' }, { type: 'B' }]);
    const ids = (await collect(again.read('s'))).map((event) => event.id);
    await again.close();
    assert.deepEqual(
      ids,
      events.map((event) => event.id),
      'ids from the seeded randomness',
    );
  });
});

describe('a new data directory survives a crash', () => {
  it('given a directory that does not exist yet, opening makes each new directory durable in its parent', async () => {
    const base = await tempDir('ordo-new-dir');
    const synced: string[] = [];
    const fs: FileSystem = {
      ...nodeFileSystem,
      open: async (path, flags) => {
        const handle = await nodeFileSystem.open(path, flags);
        if (flags !== 'r') return handle;
        return Object.assign(Object.create(handle) as typeof handle, {
          sync: () => (synced.push(path), handle.sync()),
        });
      },
    };
    const dir = join(base, 'a', 'b');
    const log = await open(dir, { fileSystem: fs });
    await log.append('s', { type: 'A' });
    await log.close();
    for (const parent of [base, join(base, 'a'), dir]) {
      assert.ok(synced.includes(parent), `${parent} was fsynced after a directory was made in it (synced: ${synced})`);
    }
  });
});
