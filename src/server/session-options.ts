import type { Logger } from 'pino';
import type { OrdoNode } from '../node/index.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../protocol/constants.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../types/validate.js';
import type { Authenticator } from './auth.js';

/** Per-connection limits: a misbehaving client exhausts its own connection, never the server. */
export interface ConnectionLimits {
  maxFrameBytes: number;
  /** Requests being processed at once; beyond it the server stops reading from the client. */
  maxInFlight: number;
  maxSubscriptions: number;
  /** Unsent response bytes above which the server stops reading requests and pausing pumps. */
  maxBufferedBytes: number;
  maxEventBytes: number;
  maxEventsPerAppend: number;
  /**
   * A connection that has not completed its HELLO by then is closed (slowloris: idle or
   * trickling connections must not pile up); HTTP uses it as its headers timeout.
   */
  handshakeTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxInFlight: 4096,
  maxSubscriptions: 256,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxEventBytes: DEFAULT_MAX_EVENT_BYTES,
  maxEventsPerAppend: 100_000,
  handshakeTimeoutMs: 10_000,
};

/** The metrics a session reports (a subset of the server's ServerMetrics). */
export interface SessionMetrics {
  request(operation: string, transport: 'tcp' | 'ws', outcome: string): void;
  subscriptionOpened(transport: 'tcp' | 'ws'): void;
  subscriptionClosed(transport: 'tcp' | 'ws'): void;
}

export interface SessionOptions {
  log: OrdoNode;
  auth: Authenticator;
  metrics: SessionMetrics;
  logger: Logger;
  limits: ConnectionLimits;
  serverName: string;
  /** In a cluster: each node's client URL, to point clients at the leader. */
  peerUrls?: Readonly<Record<string, string>> | undefined;
}
