import { ByteWriter } from '../protocol/bytes.js';
import { DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../protocol/constants.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import { writeHello } from '../protocol/requests.js';
import { readResponse, type Response } from '../protocol/responses.js';
import { type NotLeaderError, type OrdoError, ProtocolError, UnavailableError } from '../types/errors.js';
import type { ResolvedConnectOptions } from './connect-options.js';
import type { ClientTransport, TransportFactory } from './transport.js';
import { parseLeaderUrl } from './urls.js';

const PING_INTERVAL_MS = 5_000;
/** A connection that sent nothing for this long (pings included) is considered dead. */
const DEAD_CONNECTION_MS = 15_000;
/** The id of connection-level frames (handshake, protocol errors, pings). */
export const CONNECTION_ID = 0;

/** What the connection needs from the log that owns it. */
export interface ConnectionHost {
  /** The log was closed: no (re)connect. */
  closed(): boolean;
  /** Someone waits on the log (a request or a subscription): a reconnect then keeps the process alive. */
  waiting(): boolean;
  /** A handshake succeeded: send what waits, subscribe again. */
  connected(): void;
  /** The answer to request `id` (not a connection-level frame). */
  answer(id: number, response: Response): void;
  /** The connection was lost; a reconnect is scheduled. */
  disconnected(): void;
  /** The server refused us for good (bad token or version): fail everything, close. */
  refused(error: OrdoError): void;
  /** Write a ping with this turn's requests. */
  ping(): void;
}

/**
 * The life of the log's connection to a server: connect and handshake, reconnect with backoff
 * (rotating through the servers, following a named leader), and notice a dead peer. Every
 * connection attempt has its own generation: events from an older one are ignored.
 */
export class Connection {
  private transport: ClientTransport | undefined;
  private generation = 0;
  private isReady = false;
  private connecting = false;
  private attempt = 0;
  private urlIndex = 0;
  private lostError: Error | undefined;
  private lostConnections = 0;
  private leaderRedirects = 0;
  private lastReceived = 0;
  private lastPing = 0;
  private serverMaxFrameBytes = DEFAULT_MAX_FRAME_BYTES;

  /** The URLs given, plus leaders the servers pointed us to. */
  readonly urls: URL[];

  constructor(
    urls: readonly URL[],
    private readonly transportFor: (url: URL) => TransportFactory,
    private readonly options: ResolvedConnectOptions,
    private readonly host: ConnectionHost,
  ) {
    this.urls = [...urls];
  }

  /** True while a connection is established and past its handshake. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Why the last connection (attempt) failed. */
  get lastError(): Error | undefined {
    return this.lostError;
  }

  /** Connections lost since the first connect. */
  get disconnects(): number {
    return this.lostConnections;
  }

  /** Writes sent again because the node they reached was not the leader. */
  get redirects(): number {
    return this.leaderRedirects;
  }

  /** The largest frame the server accepts (from its handshake). */
  get maxFrameBytes(): number {
    return this.serverMaxFrameBytes;
  }

  /** Sends `bytes` on an established connection; while there is none they are dropped (requests are re-sent). */
  send(bytes: Uint8Array): void {
    if (this.isReady) this.transport?.send(bytes);
  }

  /** Hangs up for good (the log closed). */
  close(): void {
    this.generation++;
    this.transport?.close();
    this.transport = undefined;
    this.isReady = false;
  }

  connect(): void {
    if (this.host.closed() || this.connecting) return;
    this.connecting = true;
    const generation = ++this.generation;
    const url = this.urls[this.urlIndex++ % this.urls.length]!;
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES, (frame) => this.onFrame(frame, generation));
    this.transportFor(url)(url, {
      onData: (bytes) => {
        if (generation !== this.generation) return;
        this.lastReceived = Date.now();
        try {
          decoder.push(bytes);
        } catch (error) {
          this.connectionFailed(generation, error instanceof Error ? error : new ProtocolError(String(error)));
        }
      },
      onClose: (error) =>
        this.connectionLost(generation, error ?? new UnavailableError(`${url.href} closed the connection`)),
    }).then(
      (transport) => {
        if (generation !== this.generation) {
          transport.close();
          return;
        }
        this.transport = transport;
        this.lastReceived = Date.now();
        const hello = new ByteWriter(256);
        writeHello(hello, CONNECTION_ID, PROTOCOL_VERSION, this.options.clientName, this.options.token);
        transport.send(hello.take());
      },
      (error: Error) => this.connectionLost(generation, error),
    );
  }

  /**
   * A cluster node that is not the leader refused a write (`operation`): reconnect to the leader
   * it named, or, when it knows none, to the next node (every pending request goes along).
   */
  followLeader(operation: string, error: NotLeaderError): void {
    this.leaderRedirects++;
    const leader = error.leaderUrl !== undefined ? parseLeaderUrl(error.leaderUrl) : undefined;
    if (leader) {
      let at = this.urls.findIndex((url) => url.host === leader.host && url.protocol === leader.protocol);
      if (at < 0) at = this.urls.push(leader) - 1;
      this.urlIndex = at;
      this.attempt = 0;
      this.connectionFailed(
        this.generation,
        new UnavailableError(`${operation}: redirected to the leader ${error.leader} at ${error.leaderUrl}`),
      );
      return;
    }
    // No leader known there (an election runs, or the node left the membership): try the
    // next node, with the reconnect backoff.
    this.connectionFailed(this.generation, new UnavailableError(`${operation}: ${error.message}`));
  }

  /**
   * The node stopped (its storage failed) before it knew whether a write of `operation` is
   * durable: as after a lost connection, reconnect (to the next node, or to this one once it
   * restarted) and re-send every pending request, marked as re-sent.
   */
  nodeStopped(operation: string, error: OrdoError): void {
    this.connectionFailed(this.generation, new UnavailableError(`${operation}: ${error.message}`));
  }

  /** A ping on a quiet connection, so a dead peer is noticed; a connection silent for too long is dropped. */
  keepAlive(now: number): void {
    if (!this.isReady) return;
    if (now - this.lastReceived > DEAD_CONNECTION_MS) {
      this.connectionFailed(
        this.generation,
        new UnavailableError(`no answer from the server for ${DEAD_CONNECTION_MS} ms`),
      );
      return;
    }
    if (now - this.lastReceived > PING_INTERVAL_MS && now - this.lastPing > PING_INTERVAL_MS) {
      this.lastPing = now;
      this.host.ping();
    }
  }

  private onFrame(frame: Frame, generation: number): void {
    if (generation !== this.generation) return;
    const response = readResponse(frame);
    const id = frame.requestId;
    if (id === CONNECTION_ID) this.onConnectionFrame(response, generation);
    else this.host.answer(id, response);
  }

  private onConnectionFrame(response: Response, generation: number): void {
    if (response.kind === 'welcome') {
      this.isReady = true;
      this.connecting = false;
      this.attempt = 0;
      this.serverMaxFrameBytes = response.maxFrameBytes;
      this.host.connected();
      return;
    }
    if (response.kind === 'error') {
      const { error } = response;
      if (!this.isReady && (error.code === 'UNAUTHENTICATED' || error.code === 'PROTOCOL_ERROR')) {
        // The server refused us: retrying with the same token or version cannot help.
        this.host.refused(error);
        return;
      }
      this.connectionFailed(generation, error);
    }
    // PONG: `lastReceived` already moved.
  }

  /** The server broke the protocol (or we did): fail the connection, reconnect. */
  private connectionFailed(generation: number, error: Error): void {
    this.transport?.close();
    this.connectionLost(generation, error);
  }

  private connectionLost(generation: number, error: Error): void {
    if (generation !== this.generation) return;
    this.generation++;
    this.lostError = error;
    if (this.isReady) this.lostConnections++;
    this.transport?.close();
    this.transport = undefined;
    this.isReady = false;
    this.connecting = false;
    if (this.host.closed()) return;
    this.host.disconnected();
    const delay = Math.min(this.options.reconnectDelayMs * 2 ** this.attempt, this.options.maxReconnectDelayMs);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Jitter: many clients that lost the same server do not come back in lockstep.
    const timer = setTimeout(() => this.connect(), delay * (0.5 + Math.random() / 2));
    // Like a socket, the client keeps the process alive while someone waits on it.
    if (!this.host.waiting()) (timer as { unref?: () => void }).unref?.();
  }
}
