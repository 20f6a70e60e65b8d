import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { open } from '../../src/node/index.js';
import { tokenAuthenticator } from '../../src/server/auth.js';
import { startTestServer } from '../support/server.js';
import { killHard, startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { lines, ordo } from '../support/cli.js';

const PAD = 'p'.repeat(300);

/** Appends `n` events holding `marker` to `stream` through the CLI; `where` is --dir or --url with its token. */
async function appendN(stream: string, n: number, where: string[], marker = 'tick'): Promise<void> {
  for (let i = 0; i < n; i++) {
    const appended = await ordo('append', stream, '-t', 'Tick', '--data', JSON.stringify({ i, marker }), ...where);
    assert.equal(appended.code, 0, appended.stderr);
  }
}

/** Every file under `dir` whose bytes hold `marker`. */
async function filesHolding(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && (await readFile(file)).includes(marker)) found.push(file);
  }
  return found;
}

/** One metric's value in a Prometheus text page. */
function metric(page: string, name: string): number | undefined {
  const line = page.split('\n').find((each) => each.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** Waits until the node at `http` has finished `passes` scavenging passes (fails after a bound no pass nears). */
async function passesReach(http: string, passes: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await (await fetch(`${http}/metrics`)).text();
    if ((metric(page, 'ordo_scavenge_passes_total') ?? 0) >= passes) return;
    if (Date.now() > deadline) assert.fail(`fewer than ${passes} scavenging passes: ${page}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('ordo erase, ordo scavenge and the scavenging options', () => {
  it('erase on a data directory: the bytes are gone, verify counts the holes, a second erase and bad input are refused', async () => {
    // Given a stream whose events hold a marker, beside another
    const dir = await tempDir('ordo-cli-erase');
    const where = ['--dir', dir];
    await appendN('user-1', 3, where, 'ERASE-ME-c41d');
    await appendN('other', 2, where);

    // When it is erased under a stale, then the right expected count
    const stale = await ordo('erase', 'user-1', '--expected', '2', ...where);
    assert.equal(stale.code, 2);
    assert.match(stale.stderr, /WRONG_EXPECTED_COUNT: .*expected count 2 but its count is 3/);
    const erased = await ordo('erase', 'user-1', '--expected', '3', ...where);
    assert.equal(erased.code, 0, erased.stderr);

    // Then it prints the tombstone's position, reads empty, is tombstoned, and no file holds the marker
    assert.deepEqual(JSON.parse(erased.stdout), { position: 5 });
    assert.deepEqual(lines((await ordo('read', 'user-1', ...where)).stdout), []);
    assert.equal(JSON.parse((await ordo('metadata', 'get', 'user-1', ...where)).stdout).tombstoned, true);
    assert.deepEqual(await filesHolding(dir, 'ERASE-ME-c41d'), []);
    const verified = await ordo('verify', ...where);
    assert.equal(verified.code, 0, verified.stdout);
    const report = JSON.parse(verified.stdout);
    assert.equal(report.holes, 3);
    assert.deepEqual(report.pendingErasures, []);

    // And a second erase, a reserved name and a bad expected count are refused, naming the value
    const again = await ordo('erase', 'user-1', ...where);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /STREAM_DELETED: .*"user-1" is tombstoned/);
    const reserved = await ordo('erase', '$system', ...where);
    assert.equal(reserved.code, 2);
    assert.match(reserved.stderr, /INVALID_STREAM: .*reserved for Ordo/);
    const soon = await ordo('erase', 'other', '--expected', 'soon', ...where);
    assert.notEqual(soon.code, 0);
    assert.match(soon.stderr, /--expected must be an integer >= 0, got "soon"/);
    assert.equal(lines((await ordo('read', 'other', ...where)).stdout).length, 2, 'other was not touched');
  });

  it('scavenge on a data directory reclaims what the metadata hides and prints what it did', async () => {
    // Given a stream of 60 events in small sealed segments, of which maxCount 10 shows the newest
    const dir = await tempDir('ordo-cli-scavenge');
    const log = await open(dir, { segmentBytes: 8192, scavenge: false });
    for (let i = 0; i < 60; i++) await log.append('trimmed', { type: 'E', data: { i, PAD } });
    await log.setStreamMetadata('trimmed', { maxCount: 10 });
    await log.append('tail', { type: 'E', data: {} });
    await log.close();

    // When it is scavenged
    const scavenged = await ordo('scavenge', '--dir', dir);

    // Then the result names the stream, the rewritten segments, the holes and the bytes reclaimed
    assert.equal(scavenged.code, 0, scavenged.stderr);
    const result = JSON.parse(scavenged.stdout);
    assert.deepEqual(Object.keys(result).sort(), ['bytesReclaimed', 'holes', 'segmentsRewritten', 'streams']);
    assert.equal(result.streams, 1);
    assert.ok(result.segmentsRewritten >= 1, scavenged.stdout);
    assert.ok(result.holes >= 40, scavenged.stdout);
    assert.ok(result.bytesReclaimed > 40 * PAD.length, scavenged.stdout);
    const indexes = lines((await ordo('read', 'trimmed', '--dir', dir)).stdout).map((event) => event.index);
    assert.deepEqual(indexes, [50, 51, 52, 53, 54, 55, 56, 57, 58, 59]);
    const report = JSON.parse((await ordo('verify', '--dir', dir)).stdout);
    assert.deepEqual([report.ok, report.holes], [true, result.holes]);

    // And scavenge takes no --url (the binary protocol does not carry it)
    const remote = await ordo('scavenge', '--url', 'ordo://127.0.0.1:1');
    assert.notEqual(remote.code, 0);
    assert.match(remote.stderr, /unknown option '--url'/);
  });

  it('against a server (--http, --url): erase and scavenge need an admin token; status shows scavenging', async () => {
    const server = await startTestServer({
      auth: tokenAuthenticator([
        { name: 'app', token: 'writer-token-1', scopes: ['read', 'write'] },
        { name: 'ops', token: 'admin-token-1', scopes: ['admin'] },
      ]),
    });
    try {
      const writer = ['--http', server.urls.http, '--token', 'writer-token-1'];
      const admin = ['--http', server.urls.http, '--token', 'admin-token-1'];
      await appendN('user/42', 3, ['--url', server.urls.tcp, '--token', 'writer-token-1'], 'ERASE-ME-9e1b');
      await appendN('user/43', 2, ['--url', server.urls.tcp, '--token', 'writer-token-1']);

      // A write token may delete, not erase nor scavenge
      for (const command of [['erase', 'user/42'], ['scavenge']]) {
        const denied = await ordo(...command, ...writer);
        assert.equal(denied.code, 2, command.join(' '));
        assert.match(denied.stderr, /PERMISSION_DENIED: .*'admin' scope/, command.join(' '));
      }

      // An admin token erases over HTTP and over the binary protocol
      const erased = await ordo('erase', 'user/42', '--expected', '3', ...admin);
      assert.equal(erased.code, 0, erased.stderr);
      assert.deepEqual(JSON.parse(erased.stdout), { position: 5 });
      assert.deepEqual(await filesHolding(server.log.dir, 'ERASE-ME-9e1b'), []);
      const binary = await ordo('erase', 'user/43', '--url', server.urls.tcp, '--token', 'admin-token-1');
      assert.equal(binary.code, 0, binary.stderr);
      assert.equal(typeof JSON.parse(binary.stdout).position, 'number');

      const scavenged = await ordo('scavenge', ...admin);
      assert.equal(scavenged.code, 0, scavenged.stderr);
      assert.deepEqual(Object.keys(JSON.parse(scavenged.stdout)).sort(), [
        'bytesReclaimed',
        'holes',
        'segmentsRewritten',
        'streams',
      ]);

      // Then status shows the holes both erasures left, the passes, and no erasure pending
      const status = await ordo('status', ...admin);
      assert.equal(status.code, 0, status.stderr);
      const { scavenge } = JSON.parse(status.stdout);
      assert.equal(scavenge.holes, 5);
      assert.equal(scavenge.pendingErasures, 0);
      assert.ok(scavenge.passes >= 3, status.stdout);
      assert.ok(scavenge.bytesReclaimed > 0, status.stdout);
    } finally {
      await server.close();
    }
  });

  it('serve takes --scavenge-interval, --scavenge-rate and --no-scavenge; bad values are refused, naming them', async () => {
    const dir = await tempDir('ordo-cli-serve-scavenge');
    const cases: Array<[string[], RegExp]> = [
      [['--scavenge-interval', '0'], /--scavenge-interval must be an integer >= 1, got "0"/],
      [['--scavenge-interval', 'hourly'], /--scavenge-interval must be an integer >= 1, got "hourly"/],
      [['--scavenge-rate', '-5'], /--scavenge-rate must be an integer >= 1, got "-5"/],
      [
        ['--no-scavenge', '--scavenge-interval', '100'],
        /'--no-scavenge' cannot be used with option '--scavenge-interval/,
      ],
      [['--no-scavenge', '--scavenge-rate', '100'], /'--no-scavenge' cannot be used with option '--scavenge-rate/],
    ];
    for (const [args, message] of cases) {
      const refused = await ordo('serve', '--dir', dir, '--port', '0', '--http-port', '0', ...args);
      assert.equal(refused.code, 1, args.join(' '));
      assert.match(refused.stderr, message, args.join(' '));
    }

    // A short interval: the background scavenger passes by itself
    const busy = await startServerProcess(dir, { args: ['--scavenge-interval', '20', '--scavenge-rate', '1048576'] });
    try {
      await passesReach(busy.urls.http, 2);
    } finally {
      await killHard(busy);
    }

    // No background scavenging: a scavenge by hand still runs
    const idle = await startServerProcess(dir, { args: ['--no-scavenge'] });
    try {
      const scavenged = await ordo('scavenge', '--http', idle.urls.http);
      assert.equal(scavenged.code, 0, scavenged.stderr);
      assert.equal(JSON.parse(scavenged.stdout).streams, 0);
    } finally {
      await killHard(idle);
    }
  });
});
