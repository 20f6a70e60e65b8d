/**
 * `npm run example:signup [-- --port 8080 --dir ./signup-data]`: the signup API, its User Query
 * read model (SQLite) and Mail consumer, a fake e-mail provider, on an embedded Ordo log.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from '../../src/index.js';
import { buildApp } from './app.js';
import { startMailer } from './mailer.js';
import { startFakeProvider } from './provider.js';
import { startUserQuery } from './read-model.js';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '8080' }, dir: { type: 'string', default: './signup-data' } },
});
await mkdir(values.dir!, { recursive: true });
const log = await open(join(values.dir!, 'log'));
const provider = await startFakeProvider({ failRate: 0.2 });
const users = await startUserQuery(log, join(values.dir!, 'users.sqlite'));
const mailer = await startMailer(log, provider.url);
const app = buildApp(log, users);
await app.listen({ port: Number(values.port), host: '127.0.0.1' });
console.log(`signup API on http://127.0.0.1:${values.port}
  curl -X POST localhost:${values.port}/users -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}'
  (the same e-mail again: 409; a blank field: 400; GET /users/<id> reads the SQLite read model)`);
const stop = async () => {
  await app.close();
  await mailer.stop();
  await users.close();
  await provider.close();
  await log.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
