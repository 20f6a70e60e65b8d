import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { connect } from '../../src/index.js';
import { startNewsfeed } from '../../examples/newsfeed/newsfeed.js';
import { tempDir } from '../support/temp-dir.js';
import { CHROMIUM, CHROMIUM_FLAGS } from '../support/chromium.js';

const OUTPUT = fileURLToPath(new URL('../../../test-output/examples/', import.meta.url));

describe('example: newsfeed, history up to a version then live', () => {
  it('the page loads history up to its version, follows live from it, and after a reload mid-stream shows every item in order without gaps', async () => {
    await mkdir(OUTPUT, { recursive: true });
    const feed = await startNewsfeed({ dir: await tempDir('ordo-newsfeed') });
    const writer = await connect(feed.ordo.urls.tcp);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
      for (let i = 0; i < 5; i++) await writer.append('feed', { type: 'Posted', data: { text: `item ${i}` } });
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(feed.url);
      await page.locator('#status[data-version="5"]').waitFor();
      // Live, while the page follows; then a reload in the middle of a burst.
      const burst = (from: number, to: number) =>
        Promise.all(
          Array.from({ length: to - from }, (_, k) =>
            writer.append('feed', { type: 'Posted', data: { text: `item ${from + k}` } }),
          ),
        );
      await burst(5, 25);
      await page.locator('li[data-index="24"]').waitFor();
      const posting = burst(25, 60);
      await page.reload();
      await posting;
      // And one posted through the page's own form.
      await page.locator('#status').filter({ hasText: 'following live' }).waitFor();
      await page.fill('#text', 'item 60');
      await page.click('#post button');
      await page.locator('li[data-index="60"]').waitFor();
      const shown = await page
        .locator('li')
        .evaluateAll((items: Array<{ getAttribute(name: string): string | null; textContent: string | null }>) =>
          items.map((item) => [Number(item.getAttribute('data-index')), item.textContent]),
        );
      assert.deepEqual(
        shown,
        Array.from({ length: 61 }, (_, i) => [i, `item ${i}`]),
        'every item once, in order',
      );
      await page.screenshot({ path: join(OUTPUT, 'newsfeed.png'), fullPage: true });
    } finally {
      await browser?.close();
      await writer.close();
      await feed.close();
    }
  });
});
