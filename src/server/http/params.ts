import type { IncomingMessage } from 'node:http';
import { InvalidArgumentError, describe } from '../../types/errors.js';
import type { AckMode, Filter, ReadConsistency } from '../../types/event.js';

/** Events a read returns by default, and at most. */
const DEFAULT_READ_LIMIT = 1000;
const MAX_READ_LIMIT = 10_000;

/** The bearer token: the `Authorization` header, else `?token=` (EventSource cannot set headers). */
export function tokenOf(req: IncomingMessage, query: URLSearchParams): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  return query.get('token') ?? undefined;
}

export function integerParam(text: string, name: string): number {
  const value = Number(text);
  if (text === '' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`invalid ${name} ${describe(text)}: expected an integer >= 0`);
  }
  return value;
}

export function booleanParam(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null || value === 'false' || value === '0') return false;
  if (value === '' || value === 'true' || value === '1') return true;
  throw new InvalidArgumentError(`invalid ${name} ${describe(value)}: expected true or false`);
}

export function limitOf(query: URLSearchParams): number {
  if (!query.has('limit')) return DEFAULT_READ_LIMIT;
  const limit = integerParam(query.get('limit')!, 'limit');
  if (limit > MAX_READ_LIMIT) {
    const expected = `at most ${MAX_READ_LIMIT} per request (page with from)`;
    throw new InvalidArgumentError(`invalid limit ${limit}: expected ${expected}`);
  }
  return limit;
}

/** `Ordo-Expected-Count` header, else `?expected=`, else the body's `expected`. */
export function expectedOf(req: IncomingMessage, query: URLSearchParams, fromBody: unknown): unknown {
  const text = (req.headers['ordo-expected-count'] as string | undefined) ?? query.get('expected') ?? undefined;
  if (text === undefined) return fromBody;
  return /^\d+$/.test(text) ? Number(text) : text;
}

const CONSISTENCIES: readonly ReadConsistency[] = ['linearizable', 'local'];

/** `?consistency=linearizable|local`; undefined when not given (the log's default, linearizable). */
export function consistencyOf(query: URLSearchParams): ReadConsistency | undefined {
  const value = query.get('consistency');
  if (value === null) return undefined;
  if ((CONSISTENCIES as readonly string[]).includes(value)) return value as ReadConsistency;
  throw new InvalidArgumentError(`invalid consistency ${describe(value)}: expected linearizable or local`);
}

export function ackOf(query: URLSearchParams): AckMode | undefined {
  return (query.get('ack') as AckMode | null) ?? undefined;
}

/** `?streams=`, `?prefixes=`, `?types=` (comma-separated); undefined when none is given. */
export function filterOf(query: URLSearchParams): Filter | undefined {
  const list = (name: string) =>
    query.has(name)
      ? query
          .get(name)!
          .split(',')
          .filter((item) => item !== '')
      : undefined;
  const filter: Filter = {};
  const streams = list('streams');
  const prefixes = list('prefixes');
  const types = list('types');
  if (streams) filter.streams = streams;
  if (prefixes) filter.prefixes = prefixes;
  if (types) filter.types = types;
  return Object.keys(filter).length > 0 ? filter : undefined;
}

/** `Last-Event-ID` (EventSource reconnecting) wins: resume right after that position. */
export function fromOf(req: IncomingMessage, query: URLSearchParams): 'start' | 'end' | number {
  const last = req.headers['last-event-id'];
  if (typeof last === 'string' && last !== '') return integerParam(last, 'Last-Event-ID') + 1;
  const from = query.get('from') ?? 'start';
  if (from === 'start' || from === 'end') return from;
  return integerParam(from, 'from');
}

/** The filter as an option: `{ filter }`, or no property at all when the query names none. */
export function filterOption(query: URLSearchParams): { filter?: Filter } {
  const filter = filterOf(query);
  return filter === undefined ? {} : { filter };
}
