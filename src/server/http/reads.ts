import type { OrdoNode } from '../../node/index.js';
import { eventToJson } from '../http-json.js';
import { booleanParam, filterOption, integerParam, limitOf } from './params.js';
import type { Route } from './route.js';

/** The reads: the list of streams, one stream (and its count), the whole log, the head position. */
export function readRoutes(log: OrdoNode): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['streams'],
      operation: 'streams',
      run: async ({ query }) => {
        const prefix = query.get('prefix');
        const options = { ...(prefix === null ? {} : { prefix }), limit: limitOf(query) };
        const list = [];
        for await (const info of log.streams(options)) list.push(info);
        return { status: 200, body: { streams: list } };
      },
    },
    {
      method: 'GET',
      pattern: ['streams', ':stream', 'count'],
      operation: 'count',
      run: async ({ params }) => {
        const count = await log.count(params.stream!);
        return { status: 200, body: { stream: params.stream, count } };
      },
    },
    {
      method: 'GET',
      pattern: ['streams', ':stream'],
      operation: 'read',
      run: async ({ params, query }) => {
        const from = query.has('from') ? { from: integerParam(query.get('from')!, 'from') } : {};
        const options = { ...from, limit: limitOf(query), backwards: booleanParam(query, 'backwards') };
        const events = [];
        for await (const event of log.read(params.stream!, options)) events.push(eventToJson(event));
        return { status: 200, body: { events } };
      },
    },
    {
      method: 'GET',
      pattern: ['all'],
      operation: 'readAll',
      run: async ({ query }) => {
        // No `from`: the start of what retention kept.
        const from = query.has('from') ? { from: integerParam(query.get('from')!, 'from') } : {};
        const options = { ...from, limit: limitOf(query), ...filterOption(query) };
        const events = [];
        for await (const event of log.readAll(options)) events.push(eventToJson(event));
        return { status: 200, body: { events } };
      },
    },
    {
      method: 'GET',
      pattern: ['head'],
      operation: 'headPosition',
      run: async () => ({ status: 200, body: { headPosition: await log.headPosition() } }),
    },
  ];
}
