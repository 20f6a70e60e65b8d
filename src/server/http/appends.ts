import type { OrdoNode } from '../../node/index.js';
import { InvalidArgumentError, describe, type Expected } from '../../types/errors.js';
import type { AckMode, AppendOptions, StreamAppend } from '../../types/event.js';
import { eventFromJson, eventsFromJson, readJsonBody } from '../http-json.js';
import { ackOf, expectedOf, integerParam } from './params.js';
import type { Route } from './route.js';

/** The writes: appends to one stream or many, idempotent writes at an index, transient events. */
export function appendRoutes(log: OrdoNode, maxBodyBytes: number): Route[] {
  return [
    {
      method: 'POST',
      pattern: ['streams', ':stream'],
      operation: 'append',
      run: async ({ req, params, query }) => {
        const { events, expected, claims, releases } = eventsFromJson(await readJsonBody(req, maxBodyBytes));
        const ack = ackOf(query);
        // The log checks the values and names a bad one in INVALID_EXPECTED / INVALID_ARGUMENT.
        const options: AppendOptions = {
          expected: expectedOf(req, query, expected) as Expected,
          ...(ack === undefined ? {} : { ack }),
          ...(claims === undefined ? {} : { claims: claims as NonNullable<AppendOptions['claims']> }),
          ...(releases === undefined ? {} : { releases: releases as NonNullable<AppendOptions['releases']> }),
        };
        const result = await log.append(params.stream!, events, options);
        return { status: 201, body: result };
      },
    },
    {
      method: 'POST',
      pattern: ['streams', ':stream', ':index'],
      operation: 'existsOrWrite',
      run: async ({ req, params }) => {
        const index = integerParam(params.index!, 'index');
        const event = eventFromJson(await readJsonBody(req, maxBodyBytes));
        const result = await log.existsOrWrite(params.stream!, index, event);
        return { status: result.written ? 201 : 200, body: result };
      },
    },
    {
      method: 'POST',
      pattern: ['append-many'],
      operation: 'appendMany',
      run: async ({ req, query }) => {
        const body = (await readJsonBody(req, maxBodyBytes)) as { appends?: unknown; ack?: unknown } | null;
        const appends = body?.appends;
        if (!Array.isArray(appends)) {
          const expected = '{ "appends": [{ stream, events, expected? }] }';
          throw new InvalidArgumentError(`invalid append-many body ${describe(body)}: expected ${expected}`);
        }
        const parts = appends.map(streamAppendFromJson);
        const ack = (body?.ack as AckMode | undefined) ?? ackOf(query);
        return { status: 201, body: await log.appendMany(parts, ack === undefined ? {} : { ack }) };
      },
    },
    {
      method: 'POST',
      pattern: ['transient', ':stream'],
      operation: 'publishTransient',
      run: async ({ req, params }) => {
        await log.publishTransient(params.stream!, eventFromJson(await readJsonBody(req, maxBodyBytes)));
        return { status: 202, body: { published: true } };
      },
    },
  ];
}

/** One entry of an append-many body; the log checks its stream, expected, claims and releases. */
function streamAppendFromJson(append: unknown, i: number): StreamAppend {
  if (typeof append !== 'object' || append === null) {
    throw new InvalidArgumentError(`invalid appends[${i}] ${describe(append)}: expected { stream, events, expected? }`);
  }
  const { stream, expected, events, claims, releases } = append as StreamAppend & { events: unknown };
  return {
    stream,
    events: eventsFromJson(events).events,
    ...(expected === undefined ? {} : { expected }),
    ...(claims === undefined ? {} : { claims }),
    ...(releases === undefined ? {} : { releases }),
  };
}
