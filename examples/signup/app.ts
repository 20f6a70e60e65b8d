import Fastify, { type FastifyInstance } from 'fastify';
import { ClaimConflictError, type EventLog } from '../../src/index.js';
import type { UserRow } from './read-model.js';

/**
 * The signup API. `POST /users` checks the fields (400 with every field's error),
 * then appends UserRegistered to a new stream with a uniqueness claim on the e-mail address:
 * the log refuses a second claim atomically (409), so two racing sign-ups cannot both succeed.
 * `GET /users/:id` answers from the User Query read model (eventually consistent: 404 until
 * the consumer has seen the account).
 */
export function buildApp(log: EventLog, users: { get(id: string): UserRow | undefined }): FastifyInstance {
  const app = Fastify({ logger: false });
  app.post('/users', async (request, reply) => {
    const body = (request.body ?? {}) as { name?: unknown; email?: unknown };
    const errors: Record<string, string> = {};
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const email = typeof body.email === 'string' ? body.email.trim().toLowerCase() : '';
    if (name === '') errors.name = 'required: a non-blank name';
    if (email === '') errors.email = 'required: a non-blank e-mail address';
    else if (!/^[^@\s]+@[^@\s]+$/.test(email)) errors.email = `${JSON.stringify(email)} is not an e-mail address`;
    if (Object.keys(errors).length > 0) return reply.code(400).send({ errors });
    const id = crypto.randomUUID();
    try {
      await log.append(
        `user-${id}`,
        { type: 'UserRegistered', data: { id, name, email } },
        { expected: 'empty', claims: [{ set: 'email', value: email }] },
      );
    } catch (error) {
      if (error instanceof ClaimConflictError)
        return reply.code(409).send({ errors: { email: `${email} is already registered` } });
      throw error;
    }
    return reply.code(201).send({ id, name, email });
  });
  app.get('/users/:id', async (request, reply) => {
    const user = users.get((request.params as { id: string }).id);
    return user ? user : reply.code(404).send({ error: 'no such user (yet: the read model follows the log)' });
  });
  return app;
}
