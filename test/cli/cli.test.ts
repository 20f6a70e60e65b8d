import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from '../../src/index.js';
import { segmentName } from '../../src/storage/segment-file.js';
import { freePorts } from '../support/free-ports.js';
import { tempDir } from '../support/temp-dir.js';
import { cli, lines, ordo } from '../support/cli.js';

/** Far longer than a failed open takes; only a process that hangs reaches it. */
const SERVE_EXIT_BOUND_MS = 20_000;

describe('ordo CLI', () => {
  it('append, read, read-all and verify on a data directory', async () => {
    const dir = await tempDir('ordo-cli');
    assert.deepEqual(
      JSON.parse(
        (await ordo('append', 'user-1', '--type', 'Registered', '--data', '{"name":"Ada"}', '--dir', dir)).stdout,
      ),
      { position: 0, index: 0, count: 1 },
    );
    assert.deepEqual(JSON.parse((await ordo('append', 'user-2', '--type', 'Registered', '--dir', dir)).stdout), {
      position: 1,
      index: 0,
      count: 1,
    });
    assert.deepEqual(
      JSON.parse(
        (await ordo('append', 'user-1', '-t', 'Renamed', '--data', '"A"', '--expected', '1', '--dir', dir)).stdout,
      ),
      { position: 2, index: 1, count: 2 },
    );
    const conflict = await ordo('append', 'user-1', '-t', 'Renamed', '--expected', '0', '--dir', dir);
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /WRONG_EXPECTED_COUNT: .*expected count 0 but its count is 2/);
    const badJson = await ordo('append', 'user-1', '-t', 'X', '--data', '{nope', '--dir', dir);
    assert.notEqual(badJson.code, 0);
    assert.match(badJson.stderr, /--data must be JSON/);

    const read = lines((await ordo('read', 'user-1', '--dir', dir)).stdout);
    assert.deepEqual(
      read.map((e) => [e.position, e.index, e.type, e.data]),
      [
        [0, 0, 'Registered', { name: 'Ada' }],
        [2, 1, 'Renamed', 'A'],
      ],
    );
    assert.deepEqual(
      lines((await ordo('read', 'user-1', '--backwards', '--limit', '1', '--dir', dir)).stdout).map((e) => e.index),
      [1],
    );
    assert.deepEqual(
      lines((await ordo('read-all', '--from', '1', '--dir', dir)).stdout).map((e) => e.position),
      [1, 2],
    );
    assert.deepEqual(
      lines((await ordo('read-all', '--type', 'Registered', '--dir', dir)).stdout).map((e) => e.stream),
      ['user-1', 'user-2'],
    );

    const verified = await ordo('verify', '--dir', dir);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(JSON.parse(verified.stdout).events, 3);

    // Time travel: the events, or a reducer's state, as of a past position.
    assert.deepEqual(
      lines((await ordo('replay', '--until', '1', '--dir', dir)).stdout).map((e) => e.position),
      [0, 1],
    );
    const reducer = join(await tempDir('ordo-reducer'), 'names.mjs');
    await writeFile(
      reducer,
      "export const init = () => ({});\nexport const apply = (names, event) => ({ ...names, [event.stream]: typeof event.data === 'string' ? event.data : event.data?.name ?? null });\n",
    );
    const asOf = (until: number) =>
      ordo('replay', '--until', String(until), '--reducer', reducer, '--stream', 'user-1', '--dir', dir);
    assert.deepEqual(JSON.parse((await asOf(1)).stdout), { position: 1, events: 1, state: { 'user-1': 'Ada' } });
    assert.deepEqual(JSON.parse((await asOf(2)).stdout), { position: 2, events: 2, state: { 'user-1': 'A' } });
    const beyond = await asOf(3);
    assert.equal(beyond.code, 2);
    assert.match(beyond.stderr, /invalid until 3: the log's head is 2/);
  });

  it('verify exits 1 and names the damage when a record is corrupt', async () => {
    const dir = await tempDir('ordo-cli');
    for (let i = 0; i < 3; i++) await ordo('append', 's', '--type', 'T', '--data', String(i), '--dir', dir);
    const file = join(dir, 'segments', segmentName(0));
    const bytes = await readFile(file);
    bytes[60] = bytes[60]! ^ 0xff; // inside the first batch (segment header 24 bytes, batch prefix 8, header 40)
    await writeFile(file, bytes);
    const result = await ordo('verify', '--dir', dir);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout);
    assert.equal(report.ok, false);
    assert.match(report.problems[0], /corrupt log file .*00000000000000000000\.seg at byte offset 24: crc32c mismatch/);
    const read = await ordo('read-all', '--dir', dir);
    assert.equal(read.code, 1);
    assert.match(read.stderr, /CORRUPT_LOG/);
  });

  it("verify checks the sealed segments' index files", async () => {
    const dir = await tempDir('ordo-cli');
    const { open } = await import('../../src/node/index.js');
    const log = await open(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 100; i++) await log.append('s', { type: 'T', data: 'x'.repeat(50) });
    await log.close();
    assert.equal((await ordo('verify', '--dir', dir)).code, 0);
    const idx = join(dir, 'segments', segmentName(0).replace('.seg', '.idx'));
    const bytes = await readFile(idx);
    bytes.writeUInt32LE(bytes.readUInt32LE(36) + 1, 36); // first entry's byte offset, off by one
    const { crc32c } = await import('../../src/storage/crc.js');
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
    await writeFile(idx, bytes);
    const result = await ordo('verify', '--dir', dir);
    assert.equal(result.code, 1);
    assert.match(JSON.parse(result.stdout).problems[0], /points at byte \d+, where no batch starts/);
  });

  it('tail prints the log from a position, keeps following, and stops cleanly on Ctrl-C', async () => {
    const dir = await tempDir('ordo-cli');
    await ordo('append', 's', '--type', 'Old', '--dir', dir);
    const tail = spawn('node', [cli, 'tail', '--from', '0', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    tail.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const deadline = Date.now() + 10_000;
    while (!output.includes('"Old"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(tail.exitCode, null, 'tail keeps following after the history');
    tail.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => tail.once('exit', resolve));
    assert.equal(code, 0);
    assert.equal(lines(output)[0].type, 'Old');
  });

  it('serve in a cluster exits with the reason when its data directory cannot be opened', async () => {
    // Given a data directory another process holds
    const dir = await tempDir('ordo-cli-locked');
    const holder = await open(dir);
    try {
      // When a cluster node is started on it (its peer is down, so the transport keeps dialing)
      const [self, peer, http] = await freePorts(3);
      const peers = `a=127.0.0.1:${self},b=127.0.0.1:${peer}`;
      const serve = spawn(
        'node',
        [
          cli,
          'serve',
          '--dir',
          dir,
          '--node-id',
          'a',
          '--peers',
          peers,
          '--port',
          String(self),
          '--http-port',
          String(http),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      serve.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const killer = setTimeout(() => serve.kill('SIGKILL'), SERVE_EXIT_BOUND_MS);
      const [code] = (await once(serve, 'exit')) as [number | null];
      clearTimeout(killer);
      // Then it exits by itself, naming the lock, instead of dialing its peer forever
      assert.equal(code, 2, `exit code ${code}; stderr: ${stderr}`);
      assert.match(stderr, /LOG_LOCKED: data directory .* is in use/);
    } finally {
      await holder.close();
    }
  });
});
