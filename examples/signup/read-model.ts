import Database from 'better-sqlite3';
import { consume, eventJson, type Consumer, type EventLog } from '../../src/index.js';

export interface UserRow {
  id: string;
  name: string;
  email: string;
  /** Position of the event the row is as of. */
  position: number;
}

/**
 * The User Query read model: a SQLite table kept by a checkpointed consumer. Delivery
 * is at least once, so each write is an idempotent upsert keyed by the user id.
 */
export async function startUserQuery(
  log: EventLog,
  file: string,
): Promise<{ consumer: Consumer; get(id: string): UserRow | undefined; all(): UserRow[]; close(): Promise<void> }> {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, position INTEGER NOT NULL)',
  );
  const upsert = db.prepare(
    'INSERT INTO users (id, name, email, position) VALUES (@id, @name, @email, @position) ON CONFLICT(id) DO UPDATE SET name = excluded.name, email = excluded.email, position = excluded.position',
  );
  const consumer = await consume(log, {
    name: 'user-query',
    filter: { prefixes: ['user-'], types: ['UserRegistered'] },
    checkpointEvery: 20,
    handler: (event) => {
      const user = eventJson<{ id: string; name: string; email: string }>(event);
      upsert.run({ ...user, position: event.position });
    },
  });
  return {
    consumer,
    get: (id) => db.prepare('SELECT id, name, email, position FROM users WHERE id = ?').get(id) as UserRow | undefined,
    all: () => db.prepare('SELECT id, name, email, position FROM users ORDER BY position').all() as UserRow[],
    close: async () => {
      await consumer.stop();
      db.close();
    },
  };
}
