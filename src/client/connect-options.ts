import { DEFAULT_MAX_EVENT_BYTES } from '../types/validate.js';

export interface ConnectOptions {
  /** Token from the server's auth file (scopes read / write / admin). */
  token?: string | undefined;
  /** Shown in the server's logs. */
  clientName?: string;
  /** Deadline of every request, in ms, reconnects included. Default 30 000. */
  timeoutMs?: number;
  /** How long `connect` waits for a first connection, in ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Reconnect backoff, in ms: the first delay, doubled per failed attempt up to the max. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Events a subscription lets the server send ahead of the application (its credit). Default 16 384. */
  subscriptionWindow?: number;
  /** Events per read request. Default 4096. */
  readPageEvents?: number;
  /** Largest event accepted client-side (the server checks its own limit too). Default 1 MiB. */
  maxEventBytes?: number;
}

/** The options with every default filled in. */
export type ResolvedConnectOptions = {
  [K in keyof Omit<ConnectOptions, 'token' | 'clientName'>]-?: Exclude<ConnectOptions[K], undefined>;
} & {
  token: string;
  clientName: string;
};

const DEFAULTS = {
  timeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  reconnectDelayMs: 50,
  maxReconnectDelayMs: 2_000,
  subscriptionWindow: 16_384,
  readPageEvents: 4_096,
};

export function resolveConnectOptions(options: ConnectOptions): ResolvedConnectOptions {
  const defaults = { ...DEFAULTS, maxEventBytes: DEFAULT_MAX_EVENT_BYTES, token: '', clientName: 'ordo-client' };
  return { ...defaults, ...stripUndefined(options) } as ResolvedConnectOptions;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
