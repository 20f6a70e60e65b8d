import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { eventJson, open, type Consumer } from '../../src/index.js';
import { buildApp } from '../../examples/signup/app.js';
import { startMailer } from '../../examples/signup/mailer.js';
import { startFakeProvider } from '../../examples/signup/provider.js';
import { startUserQuery } from '../../examples/signup/read-model.js';
import { tempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';

describe('example: signup with uniqueness claims and a mail consumer', () => {
  it('200 concurrent sign-ups with duplicate e-mails, a provider switched off and on, consumers killed and restarted: no duplicate account, every account mailed, the read model equals the log', async () => {
    const dir = await tempDir('ordo-signup');
    const log = await open(join(dir, 'log'));
    const provider = await startFakeProvider({ failRate: 0.2, seed: 3 });
    let users = await startUserQuery(log, join(dir, 'users.sqlite'));
    let mailer: Consumer = await startMailer(log, provider.url);
    const app = buildApp(log, { get: (id) => users.get(id) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const post = (body: unknown) =>
      fetch(`${base}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    try {
      // Bad input: every field's error at once.
      const blank = await post({ name: ' ', email: '' });
      assert.equal(blank.status, 400);
      assert.deepEqual(((await blank.json()) as { errors: Record<string, string> }).errors, {
        name: 'required: a non-blank name',
        email: 'required: a non-blank e-mail address',
      });
      // 200 sign-ups at once over 150 addresses (case differences included): 150 accounts, 50 conflicts.
      provider.enabled = false; // the provider is down while they come in
      const emails = Array.from({ length: 200 }, (_, i) =>
        i < 150 ? `user${i}@example.com` : `USER${(i * 7) % 150}@Example.com`,
      );
      const answers = await Promise.all(
        emails.map(async (email, i) => ({ email, response: await post({ name: `User ${i}`, email }) })),
      );
      const statuses = answers.map((a) => a.response.status);
      assert.equal(statuses.filter((s) => s === 201).length, 150);
      assert.equal(statuses.filter((s) => s === 409).length, 50);
      const conflict = answers.find((a) => a.response.status === 409)!;
      assert.match(JSON.stringify(await conflict.response.json()), /is already registered/);
      // Kill both consumers mid-way and start them again (they resume at their checkpoints).
      await until('the mailer to be failing', () => mailer.status().failures >= 2 || undefined);
      await mailer.stop();
      await users.close();
      users = await startUserQuery(log, join(dir, 'users.sqlite'));
      mailer = await startMailer(log, provider.url);
      provider.enabled = true;
      const accounts: Array<{ id: string; email: string; name: string; position: number }> = [];
      for await (const event of log.readAll({ filter: { prefixes: ['user-'], types: ['UserRegistered'] } }))
        accounts.push({ ...eventJson<{ id: string; name: string; email: string }>(event), position: event.position });
      assert.equal(accounts.length, 150);
      assert.equal(new Set(accounts.map((a) => a.email)).size, 150, 'no e-mail has two accounts');
      await until('every account mailed', () => provider.delivered.size >= 150 || undefined, 30_000);
      const registrations = new Set<string>();
      for await (const event of log.readAll({ filter: { prefixes: ['user-'], types: ['UserRegistered'] } }))
        registrations.add(event.id);
      assert.deepEqual(
        new Set(provider.delivered.keys()),
        registrations,
        'every registration mailed (at least once), nothing else',
      );
      await until('the read model to catch up', () => users.all().length === 150 || undefined, 15_000);
      assert.deepEqual(users.all(), accounts, 'the read model equals the log');
      const one = accounts[0]!;
      const read = await fetch(`${base}/users/${one.id}`);
      assert.equal(read.status, 200);
      assert.deepEqual(await read.json(), one);
      assert.equal((await fetch(`${base}/users/00000000-0000-4000-8000-000000000000`)).status, 404);
    } finally {
      await app.close();
      await mailer.stop();
      await users.close();
      await provider.close();
      await log.close();
    }
  });
});
