import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, PermissionDeniedError, UnauthenticatedError, describe } from '../types/errors.js';

/**
 * Tokens and scopes, enforced the same way on every transport (binary TCP, WebSocket, HTTP, SSE).
 *  - read:  read, readAll, subscribe, readAndSubscribe, count, headPosition, streams,
 *           getStreamMetadata
 *  - write: append, appendMany, existsOrWrite, publishTransient, setStreamMetadata, deleteStream
 *  - admin: everything, plus status, metrics, erase and scavenge
 * Without an auth file the server is open (every connection is the `anonymous` admin), which
 * is why it listens on 127.0.0.1 by default.
 */
export type Scope = 'read' | 'write' | 'admin';

export type Operation =
  | 'append'
  | 'appendMany'
  | 'existsOrWrite'
  | 'publishTransient'
  | 'read'
  | 'readAll'
  | 'subscribe'
  | 'readAndSubscribe'
  | 'count'
  | 'headPosition'
  | 'streams'
  | 'getStreamMetadata'
  | 'setStreamMetadata'
  | 'deleteStream'
  /** A tombstone that removes the stream's bytes from every node. */
  | 'erase'
  /** A scavenge started by hand (POST /admin/scavenge). */
  | 'scavenge'
  /** A hosted model's state (GET /models). */
  | 'models'
  /** The console's live overview feed (GET /console/stats). */
  | 'stats'
  /** Who the token is and what it may do (GET /whoami): any valid token. */
  | 'whoami'
  | 'status'
  | 'metrics'
  /** A peer node's Raft traffic: only a cluster token (admin) may speak for a node. */
  | 'raft'
  /** Membership changes and leadership transfer. */
  | 'cluster';

export const OPERATION_SCOPES: Readonly<Record<Operation, Scope>> = {
  append: 'write',
  appendMany: 'write',
  existsOrWrite: 'write',
  publishTransient: 'write',
  read: 'read',
  readAll: 'read',
  subscribe: 'read',
  readAndSubscribe: 'read',
  count: 'read',
  headPosition: 'read',
  streams: 'read',
  getStreamMetadata: 'read',
  setStreamMetadata: 'write',
  deleteStream: 'write',
  erase: 'admin',
  scavenge: 'admin',
  models: 'read',
  stats: 'read',
  whoami: 'read',
  status: 'admin',
  metrics: 'admin',
  raft: 'admin',
  cluster: 'admin',
};

export interface Principal {
  /** The token's name from the auth file (never the token itself: it goes into logs). */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}

export interface Authenticator {
  /** False when the server runs without an auth file. */
  readonly required: boolean;
  /** The principal a token stands for; throws `UnauthenticatedError` for a missing or unknown token. */
  authenticate(token: string | undefined): Principal;
}

/** Throws `PermissionDeniedError` unless `principal` may run `operation`. */
export function authorize(principal: Principal, operation: Operation): void {
  const scope = OPERATION_SCOPES[operation];
  if (principal.scopes.has('admin') || principal.scopes.has(scope)) return;
  throw new PermissionDeniedError(operation, scope, principal.name);
}

const ANONYMOUS: Principal = { name: 'anonymous', scopes: new Set<Scope>(['admin']) };

/** Every request is allowed: the server has no auth file. */
export const openAccess: Authenticator = {
  required: false,
  authenticate: () => ANONYMOUS,
};

export interface TokenEntry {
  name: string;
  token: string;
  scopes: Scope[];
}

const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/**
 * Tokens from a JSON auth file:
 *   { "tokens": [ { "name": "billing", "token": "…", "scopes": ["read", "write"] } ] }
 */
export async function loadAuthFile(path: string): Promise<Authenticator> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError(`cannot read auth file ${path}: ${(error as Error).message}`);
  }
  const tokens = (parsed as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens)) {
    throw new InvalidArgumentError(
      `invalid auth file ${path}: expected { "tokens": [ { "name", "token", "scopes" } ] }, got ${describe(parsed)}`,
    );
  }
  return tokenAuthenticator(tokens.map((entry, i) => validateEntry(entry, `${path} tokens[${i}]`)));
}

export function tokenAuthenticator(entries: readonly TokenEntry[]): Authenticator {
  // Tokens are looked up by their SHA-256, then compared in constant time: the lookup leaks
  // nothing about the token a caller is guessing.
  const byDigest = new Map<string, { entry: TokenEntry; principal: Principal }>();
  for (const entry of entries) {
    const digest = sha256(entry.token);
    if (byDigest.has(digest))
      throw new InvalidArgumentError(`auth: token of ${JSON.stringify(entry.name)} is listed twice`);
    byDigest.set(digest, { entry, principal: { name: entry.name, scopes: new Set(entry.scopes) } });
  }
  return {
    required: true,
    authenticate(token) {
      if (token === undefined || token === '')
        throw new UnauthenticatedError('this server requires a token (see --auth-file); none was given');
      const found = byDigest.get(sha256(token));
      if (!found || !safeEqual(found.entry.token, token)) throw new UnauthenticatedError('unknown token');
      return found.principal;
    },
  };
}

function validateEntry(entry: unknown, where: string): TokenEntry {
  const e = entry as Partial<TokenEntry> | null;
  if (typeof e !== 'object' || e === null)
    throw new InvalidArgumentError(`invalid ${where} ${describe(entry)}: expected { name, token, scopes }`);
  if (typeof e.name !== 'string' || e.name === '')
    throw new InvalidArgumentError(`invalid ${where}.name ${describe(e.name)}: expected a non-empty string`);
  if (typeof e.token !== 'string' || e.token.length < 8) {
    throw new InvalidArgumentError(`invalid ${where}.token: expected a string of at least 8 characters`);
  }
  if (!Array.isArray(e.scopes) || e.scopes.length === 0 || !e.scopes.every((s) => SCOPES.includes(s as Scope))) {
    throw new InvalidArgumentError(
      `invalid ${where}.scopes ${describe(e.scopes)}: expected a non-empty array of 'read', 'write', 'admin'`,
    );
  }
  return { name: e.name, token: e.token, scopes: e.scopes as Scope[] };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
