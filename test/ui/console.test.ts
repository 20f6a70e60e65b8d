import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { connect } from '../../src/client/index.js';
import type { OrdoServer } from '../../src/server/server.js';
import { tokenAuthenticator } from '../../src/server/auth.js';
import { startTestServer } from '../support/server.js';
import { tempDir } from '../support/temp-dir.js';
import { flipByteOfFirstBatch, smallSegments, writeSegmentedLog } from '../support/damage.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../support/chromium.js';

/** Screenshots of each page, for people to look at (not compared). */
const OUTPUT = fileURLToPath(new URL('../../../test-output/console/', import.meta.url));
/** Every wait for the page, in ms. */
const UI_TIMEOUT_MS = 10_000;

describe('web console in a browser', () => {
  let browser: Browser;
  before(async () => {
    await mkdir(OUTPUT, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
  });

  /** Waits until the locator's text matches: the page updates after its requests answer. */
  async function shows(locator: Locator, text: RegExp): Promise<void> {
    await locator.filter({ hasText: text }).waitFor();
  }

  /** Signs in on the login form with `token`, and waits until the header names `who`. */
  async function signIn(page: Page, token: string, who: string): Promise<void> {
    await page.locator('form.login').waitFor();
    await page.fill('input[name=token]', token);
    await page.click('form.login button');
    await page.getByText(who).waitFor();
  }

  async function openPage(server: OrdoServer): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    await page.goto(`${server.urls.http}/`);
    return page;
  }

  it('overview, append through the form, the event in the stream view and the live tail, a 409 on a wrong expected count', async () => {
    const server = await startTestServer();
    const page = await openPage(server);
    try {
      // Overview: this node, live cards and charts fed by /console/stats.
      await page.getByText('head position').waitFor();
      await page.locator('tr[data-node]').first().waitFor();
      assert.match(await page.locator('tr[data-node]').first().innerText(), /\(this node\)/);
      assert.equal(await page.locator('.chart').count(), 4);

      // The live tail is opened in a second tab before the append, so it sees it arrive.
      const tail = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      tail.setDefaultTimeout(UI_TIMEOUT_MS);
      await tail.goto(`${server.urls.http}/#/tail`);
      await tail.getByText('events/s').waitFor();

      // Append through the form.
      await page.click('a[href="#/append"]');
      await page.fill('input[name=stream]', 'user-42');
      await page.fill('input[name=type]', 'Registered');
      await page.fill('textarea[name=data]', '{"name": "Ada"}');
      await page.fill('input[name=expected]', '0');
      await page.click('button[type=submit]');
      await page.locator('[data-result]').waitFor();
      assert.match(
        await page.locator('[data-result]').innerText(),
        /appended at position 0, index 0; the stream's count is now 1/,
      );
      await page.screenshot({ path: join(OUTPUT, 'append.png'), fullPage: true });

      // The same expected count again: the conflict is shown as such.
      await page.click('button[type=submit]');
      await page.locator('.result.conflict').waitFor();
      assert.match(
        await page.locator('.result.conflict').innerText(),
        /409 WRONG_EXPECTED_COUNT: stream "user-42": expected count 0 but its count is 1/,
      );
      await page.screenshot({ path: join(OUTPUT, 'append-409.png'), fullPage: true });

      // The live tail saw the append.
      await tail.locator('tr.event[data-position="0"]').waitFor();
      assert.match(
        await tail.locator('tr.event[data-position="0"]').innerText(),
        /user-42[\s\S]*Registered[\s\S]*"name": "Ada"/,
      );
      await tail.screenshot({ path: join(OUTPUT, 'tail.png'), fullPage: true });
      await tail.close();

      // Streams list, then the stream's events.
      await page.click('a[href="#/streams"]');
      await page.locator('a[href="#/streams/user-42"]').waitFor();
      await page.screenshot({ path: join(OUTPUT, 'streams.png'), fullPage: true });
      await page.click('a[href="#/streams/user-42"]');
      await page.locator('tr.event[data-position="0"]').waitFor();
      const row = await page.locator('tr.event[data-position="0"]').innerText();
      assert.match(row, /^0\s+user-42\s+0\s+Registered/);
      assert.match(row, /"name": "Ada"/);
      await page.screenshot({ path: join(OUTPUT, 'stream.png'), fullPage: true });

      // Back on the overview, the charts have samples and the head moved.
      await page.click('a[href="#/"]');
      await page.locator('.card-value').first().filter({ hasText: /^0$/ }).waitFor();
      await page.waitForTimeout(2_500);
      await page.screenshot({ path: join(OUTPUT, 'overview.png'), fullPage: true });
      await page.click('a[href="#/patterns"]');
      await page.getByText('this server hosts no models').waitFor();
      await page.screenshot({ path: join(OUTPUT, 'patterns.png'), fullPage: true });
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('the stream view shows its metadata, saves an edit the events honour, and deletes: soft, then for good once confirmed', async () => {
    // Given a stream of five events
    const server = await startTestServer();
    const client = await connect(server.urls.tcp);
    await client.append(
      'sensor-1',
      [0, 1, 2, 3, 4].map((i) => ({ type: 'Reading', data: { i } })),
    );
    const page = await openPage(server);
    const panel = page.locator('section.lifecycle');
    const field = (name: string) => page.locator(`table.metadata tr[data-field="${name}"] td`);
    try {
      await page.click('a[href="#/streams"]');
      await page.click('a[href="#/streams/sensor-1"]');
      await page.locator('tr.event[data-position="0"]').waitFor();
      await page.locator('section.lifecycle[data-state="live"]').waitFor();
      assert.equal(await field('maxCount').innerText(), '—');
      assert.match(await field('metadataCount').innerText(), /^0 changes$/);

      // When a bad value is saved, the server's typed error is shown
      await page.fill('input[name=maxCount]', '-1');
      await page.click('form.metadata-form button[type=submit]');
      await page.locator('[data-metadata-result]').waitFor();
      assert.match(
        await page.locator('[data-metadata-result]').innerText(),
        /400 INVALID_METADATA: invalid stream metadata maxCount -1: expected a whole number of events >= 1/,
      );

      // When maxCount 2 and custom fields are saved
      await page.fill('input[name=maxCount]', '2');
      await page.fill('textarea[name=custom]', '{"owner": "ops"}');
      await page.click('form.metadata-form button[type=submit]');

      // Then the stream view shows only the newest two events, and the metadata as set
      await shows(page.locator('[data-shown]'), /5 events appended · showing indexes 3–4/);
      assert.deepEqual(await page.locator('tr.event').evaluateAll((rows) => rows.map((r) => r.dataset.position)), [
        '3',
        '4',
      ]);
      await shows(field('metadataCount'), /^1 change$/);
      assert.equal(await field('custom').innerText(), '{"owner":"ops"}');
      await page.screenshot({ path: join(OUTPUT, 'stream-metadata.png'), fullPage: true });

      // And an edit over a change made meanwhile elsewhere is a conflict, not a lost update
      const elsewhere = await fetch(`${server.urls.http}/streams/sensor-1/metadata`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ maxCount: 3 }),
      });
      assert.equal(elsewhere.status, 200);
      await page.fill('input[name=maxCount]', '4');
      await page.click('form.metadata-form button[type=submit]');
      await page.locator('[data-metadata-result]').filter({ hasText: '409 WRONG_EXPECTED_COUNT' }).waitFor();

      // When the stream is deleted (soft), it reads empty but keeps its count
      await page.reload();
      await page.locator('tr.event[data-position="2"]').waitFor();
      await page.click('button[name=delete]');
      await page.locator('section.lifecycle[data-state="deleted"]').waitFor();
      await shows(page.locator('[data-shown]'), /5 events appended · no visible events here/);
      assert.equal(await page.locator('tr.event').count(), 0);

      // When a tombstone is asked for, nothing happens until it is confirmed
      await page.click('button[name=tombstone]');
      await page.locator('.confirm').waitFor();
      await page.click('button[name=cancel]');
      await page.locator('.confirm').waitFor({ state: 'detached' });
      assert.equal(await panel.getAttribute('data-state'), 'deleted');
      await page.click('button[name=tombstone]');
      await page.click('button[name=confirm-tombstone]');
      await page.locator('section.lifecycle[data-state="tombstoned"]').waitFor();
      assert.equal(await page.locator('form.metadata-form').count(), 0, 'a tombstoned stream takes no change');
      await page.screenshot({ path: join(OUTPUT, 'stream-tombstoned.png'), fullPage: true });

      // Then an append through the form is refused with 410
      await page.click('a[href="#/append"]');
      await page.fill('input[name=stream]', 'sensor-1');
      await page.fill('input[name=type]', 'Reading');
      await page.click('button[type=submit]');
      await page.locator('.result.error').waitFor();
      assert.match(
        await page.locator('.result.error').innerText(),
        /410 STREAM_DELETED: append refused: stream "sensor-1" is tombstoned/,
      );
    } finally {
      await client.close();
      await page.close();
      await server.close();
    }
  });

  it('with tokens: asks for one, keeps it for the session; a read-only token sees no append form', async () => {
    const auth = tokenAuthenticator([
      { name: 'ops', token: 'reader-token-123', scopes: ['read'] },
      { name: 'app', token: 'writer-token-123', scopes: ['read', 'write'] },
    ]);
    const server = await startTestServer({ auth });
    const writer = await connect(server.urls.tcp, { token: 'writer-token-123' });
    await writer.append('orders', { type: 'Placed', data: { total: 5 } });
    await writer.close();
    const page = await openPage(server);
    try {
      await page.locator('form.login').waitFor();
      await page.fill('input[name=token]', 'wrong-token-000');
      await page.click('form.login button');
      await page.getByText('that token was refused').waitFor();
      await page.fill('input[name=token]', 'reader-token-123');
      await page.click('form.login button');
      await page.getByText('ops (read)').waitFor();
      assert.equal(await page.locator('a[href="#/append"]').count(), 0, 'no append link for a read-only token');
      await page.goto(`${server.urls.http}/#/append`);
      await page.getByText('this token may not write').waitFor();
      // The token is kept for the session: a reload does not ask again, and reads work.
      await page.goto(`${server.urls.http}/#/streams`);
      await page.locator('a[href="#/streams/orders"]').waitFor();
      await page.screenshot({ path: join(OUTPUT, 'read-only.png'), fullPage: true });
      // The stream's metadata is shown to a reader, with nothing to change it.
      await page.click('a[href="#/streams/orders"]');
      await page.locator('section.lifecycle[data-state="live"]').waitFor();
      assert.equal(await page.locator('form.metadata-form').count(), 0, 'no metadata form for a read-only token');
      assert.equal(await page.locator('button[name=delete]').count(), 0, 'no delete for a read-only token');
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('an admin erases a stream from its page once confirmed; the overview shows scavenging and scavenges now', async () => {
    // Given a stream whose events hold a marker, and an admin and a writer token
    const auth = tokenAuthenticator([
      { name: 'ops', token: 'admin-token-123', scopes: ['admin'] },
      { name: 'app', token: 'writer-token-123', scopes: ['read', 'write'] },
    ]);
    const server = await startTestServer({ auth });
    const writer = await connect(server.urls.tcp, { token: 'writer-token-123' });
    await writer.append(
      'user-7',
      [0, 1, 2].map((i) => ({ type: 'Registered', data: { i, marker: 'ERASE-ME-ui-3f' } })),
    );
    await writer.close();
    const page = await openPage(server);
    try {
      // A writer is offered delete, not erase
      await signIn(page, 'writer-token-123', 'app (read, write)');
      await page.goto(`${server.urls.http}/#/streams/user-7`);
      await page.locator('section.lifecycle[data-state="live"]').waitFor();
      assert.equal(await page.locator('button[name=delete]').count(), 1);
      assert.equal(await page.locator('button[name=erase]').count(), 0, 'no erase for a write token');
      assert.equal(await page.locator('button[name=scavenge]').count(), 0);

      // When an admin asks to erase it, the confirmation names the stream and what cannot be undone
      await page.click('button.link');
      await signIn(page, 'admin-token-123', 'ops (admin)');
      await page.goto(`${server.urls.http}/#/streams/user-7`);
      await page.locator('tr.event[data-position="2"]').waitFor();
      await page.click('button[name=erase]');
      const confirm = page.locator('[data-erase-confirm]');
      assert.match(
        await confirm.innerText(),
        /Erase user-7\? Its events' bytes are removed from every node and this cannot be undone/,
      );
      await page.click('button[name=cancel-erase]');
      await confirm.waitFor({ state: 'detached' });
      assert.equal(await page.locator('tr.event').count(), 3, 'nothing happens before it is confirmed');
      await page.click('button[name=erase]');
      await page.click('button[name=confirm-erase]');

      // Then the stream is tombstoned and reads empty, and no file holds its bytes
      await page.locator('section.lifecycle[data-state="erased"]').waitFor();
      assert.match(await page.locator('[data-erase-result]').innerText(), /erased: .*tombstone is at position 3/);
      assert.equal(await page.locator('button[name="erase"]').count(), 0, 'an erased stream offers no second erasure');
      await shows(page.locator('[data-shown]'), /3 events appended · no visible events here/);
      assert.deepEqual(await filesHolding(server.log.dir, 'ERASE-ME-ui-3f'), []);
      await page.screenshot({ path: join(OUTPUT, 'stream-erased.png'), fullPage: true });

      // And the overview shows the holes it left; a scavenge now says what it did
      await page.click('a[href="#/"]');
      const scavenging = page.locator('.scavenge');
      await shows(scavenging, /3\s*events removed \(holes\)/);
      assert.match(await scavenging.innerText(), /0\s*erasures pending/);
      await page.click('button[name=scavenge]');
      await page.locator('[data-scavenge-result]').waitFor();
      assert.match(
        await page.locator('[data-scavenge-result]').innerText(),
        /scavenged: 0 streams newly trimmed, \d+ segments? rewritten, \d+ holes?, .* reclaimed/,
      );
      await page.screenshot({ path: join(OUTPUT, 'overview-scavenging.png'), fullPage: true });
    } finally {
      await page.close();
      await server.close();
    }
  });

  it('the overview shows the scrub of sealed segments, and a damaged batch it found with what to do', async () => {
    // Given a server on a log with bit rot in a sealed segment, its scrub running passes back to back
    const dir = await tempDir('ordo-console-damage');
    const segments = await writeSegmentedLog(dir, 60);
    await flipByteOfFirstBatch(segments[1]!.file);
    const scrub = { bytesPerSecond: 1024 * 1024, intervalMs: 1 };
    const server = await startTestServer({ dir, log: smallSegments({ scrub }) });
    const page = await openPage(server);
    try {
      // Then the overview shows passes and the damage, with what to do on a single node
      await page.locator('.scrub .damage').waitFor();
      assert.match(
        await page.locator('.scrub .damage').innerText(),
        /1 damaged batch in sealed segments.*Restore the log from a backup/s,
      );
      assert.match(await page.locator('.scrub').innerText(), /scrub of sealed segments: \d+ passes/);
      await page.screenshot({ path: join(OUTPUT, 'overview-damage.png'), fullPage: true });
    } finally {
      await page.close();
      await server.close();
    }
  });
});

/** Every file under `dir` whose bytes hold `marker`. */
async function filesHolding(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && (await readFile(file)).includes(marker)) found.push(file);
  }
  return found;
}
