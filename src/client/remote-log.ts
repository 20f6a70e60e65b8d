import { ByteWriter } from '../protocol/bytes.js';
import { DEFAULT_MAX_FRAME_BYTES, EVENTS_DONE, FrameType, PROTOCOL_VERSION, REQUEST_RESENT } from '../protocol/constants.js';
import { validateClaimChanges } from '../types/claims.js';
import { RandomIds } from '../types/random-ids.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import {
  writeAppend,
  writeAppendMany,
  writeCount,
  writeExistsOrWrite,
  writeHead,
  writeHello,
  writePing,
  writePublishTransient,
  writeRead,
  writeReadAll,
  writeStreams,
} from '../protocol/requests.js';
import { readResponse, type Response } from '../protocol/responses.js';
import {
  AbortedError,
  InvalidArgumentError,
  LimitExceededError,
  LogClosedError,
  NotLeaderError,
  OrdoError,
  ProtocolError,
  TimeoutError,
  UnavailableError,
  describe,
} from '../types/errors.js';
import type {
  AckMode,
  AppendManyResult,
  AppendOptions,
  AppendResult,
  Event,
  EventInput,
  EventLog,
  ExistsOrWriteResult,
  ReadAllOptions,
  ReadAndSubscribeResult,
  ReadConsistency,
  ReadOptions,
  StreamAppend,
  StreamInfo,
  SubscribeOptions,
  Subscription,
  TransientEvent,
} from '../types/event.js';
import {
  DEFAULT_MAX_EVENT_BYTES,
  prepareEvent,
  prepareEvents,
  prepareStreamAppends,
  validateExpected,
  validateFilter,
  validateIndex,
  validateLimit,
  validateStream,
} from '../types/validate.js';
import { RemoteSubscription, type SubscriptionHost } from './remote-subscription.js';
import type { ClientTransport, TransportFactory } from './transport.js';

export interface ConnectOptions {
  /** Token from the server's auth file (scopes read / write / admin). */
  token?: string;
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

interface Pending {
  frame: Uint8Array;
  /** It went out on a connection that was lost: a re-send is marked as one. */
  sent: boolean;
  operation: string;
  deadline: number;
  accept(response: Response): void;
  fail(error: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const DEFAULTS = {
  timeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  reconnectDelayMs: 50,
  maxReconnectDelayMs: 2_000,
  subscriptionWindow: 16_384,
  readPageEvents: 4_096,
};
/** How often deadlines are checked and an idle connection is pinged. */
const SWEEP_INTERVAL_MS = 200;
const PING_INTERVAL_MS = 5_000;
/** A connection that sent nothing for this long (pings included) is considered dead. */
const DEAD_CONNECTION_MS = 15_000;
/** The id of connection-level frames (handshake, protocol errors). */
const CONNECTION_ID = 0;
const MAX_REQUEST_ID = 0xffff_ffff;

/**
 * `connect()`'s EventLog: the same interface and the same errors as `open()`, over Ordo's binary
 * protocol. Requests are pipelined (many in flight, answered out of order) and every request made
 * in one turn of the event loop goes out in one write. After a lost connection it reconnects
 * with backoff (rotating through the given servers) and re-sends every unanswered request as the
 * same bytes: an append keeps its event ids (an event without one got a random id in the
 * request), so a retried append whose first attempt was written is answered, not duplicated.
 */
export class RemoteEventLog implements EventLog {
  private readonly writer = new ByteWriter();
  private readonly ids = new RandomIds();
  private readonly pending = new Map<number, Pending>();
  private readonly subscriptions = new Map<number, RemoteSubscription>();
  private readonly allSubscriptions = new Set<RemoteSubscription>();
  private readonly options: Required<Omit<ConnectOptions, 'token' | 'clientName'>> & { token: string; clientName: string };
  private nextId = 1;
  private transport: ClientTransport | undefined;
  private generation = 0;
  private ready = false;
  private connecting = false;
  private isClosed = false;
  private attempt = 0;
  private urlIndex = 0;
  private lastError: Error | undefined;
  private lostConnections = 0;
  private leaderRedirects = 0;
  private lastReceived = 0;
  private lastPing = 0;
  private flushScheduled = false;
  private maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private firstConnect: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly subscriptionHost: SubscriptionHost;

  /** The URLs given, plus leaders the servers pointed us to. */
  private readonly urls: URL[];

  constructor(
    urls: readonly URL[],
    private readonly transportFor: (url: URL) => TransportFactory,
    options: ConnectOptions = {},
  ) {
    this.urls = [...urls];
    this.options = { ...DEFAULTS, maxEventBytes: DEFAULT_MAX_EVENT_BYTES, token: '', clientName: 'ordo-client', ...stripUndefined(options) };
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    (this.sweeper as { unref?: () => void }).unref?.();
    this.subscriptionHost = {
      encode: (write) => {
        if (!this.ready) return undefined;
        const id = this.newId();
        write(this.writer, id);
        this.scheduleFlush();
        return id;
      },
      register: (id, subscription) => this.subscriptions.set(id, subscription),
      unregister: (id) => this.subscriptions.delete(id),
      later: (action) => {
        const timer = setTimeout(() => {
          if (this.ready) action();
        }, this.options.reconnectDelayMs);
        (timer as { unref?: () => void }).unref?.();
      },
    };
  }

  /** Connects; resolves once the first handshake succeeded. */
  start(): Promise<void> {
    const started = new Promise<void>((resolve, reject) => (this.firstConnect = { resolve, reject }));
    const timer = setTimeout(() => {
      const first = this.firstConnect;
      if (!first) return;
      this.firstConnect = undefined;
      const servers = this.urls.map((url) => url.href).join(', ');
      first.reject(new UnavailableError(`no Ordo server reachable at ${servers} within ${this.options.connectTimeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`, this.lastError));
      void this.close();
    }, this.options.connectTimeoutMs);
    this.connectNow();
    return started.finally(() => clearTimeout(timer));
  }

  private readonly reconnectListeners = new Set<() => void>();

  /**
   * Calls `listener` after every reconnect (not the first connect): the server reached may be
   * another node, or another log behind the same address (see `Reconnects` in types/event.ts).
   */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** True while a connection is established and past its handshake. */
  get connected(): boolean {
    return this.ready;
  }

  /** Connections lost since `connect` (each followed by a reconnect attempt). */
  get disconnects(): number {
    return this.lostConnections;
  }

  // ---- the EventLog interface ----

  append(stream: string, events: EventInput | EventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    try {
      this.ensureOpen('append');
      const name = validateStream(stream);
      const expected = validateExpected(options.expected);
      const ack = validateAck(options.ack);
      const prepared = prepareEvents(events, this.options.maxEventBytes);
      const claims = validateClaimChanges(options.claims, options.releases);
      return this.request('append', (w, id) => writeAppend(w, id, name, expected, ack, prepared, this.ids, claims), appendResult, options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  appendMany(appends: StreamAppend[], options: { ack?: AckMode; signal?: AbortSignal } = {}): Promise<AppendManyResult> {
    try {
      this.ensureOpen('appendMany');
      const parts = prepareStreamAppends(appends, this.options.maxEventBytes);
      const ack = validateAck(options.ack);
      return this.request('appendMany', (w, id) => writeAppendMany(w, id, ack, parts, this.ids), (response) => {
        if (response.kind !== 'appendManyOk') throw unexpected('appendMany', response);
        return response.result;
      }, options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  existsOrWrite(stream: string, index: number, event: EventInput): Promise<ExistsOrWriteResult> {
    try {
      this.ensureOpen('existsOrWrite');
      const name = validateStream(stream);
      const at = validateIndex(index);
      const prepared = prepareEvent(event, this.options.maxEventBytes);
      return this.request('existsOrWrite', (w, id) => writeExistsOrWrite(w, id, name, at, prepared, this.ids), (response) => {
        if (response.kind !== 'appendOk') throw unexpected('existsOrWrite', response);
        return response.result;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  publishTransient(stream: string, event: Omit<EventInput, 'metadata'>): Promise<void> {
    try {
      this.ensureOpen('publishTransient');
      const name = validateStream(stream);
      const prepared = prepareEvent(event, this.options.maxEventBytes);
      return this.request('publishTransient', (w, id) => writePublishTransient(w, id, name, prepared, this.ids), () => undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('read');
    const name = validateStream(stream);
    let next: number | undefined = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const backwards = options.backwards === true;
    // The first page is read at the asked consistency; the pages after it continue from there.
    let consistency = validateConsistency(options.consistency);
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    let first = true;
    return this.pages(limit, (pageLimit) => {
      const from = next;
      const asked = consistency;
      consistency = 'local';
      const minPosition = first ? options.minPosition : undefined;
      first = false;
      return this.request('read', (w, id) => writeRead(w, id, name, from, pageLimit, backwards, asked, minPosition), (response) => {
        const page = eventsPage('read', response);
        next = page.next;
        return page;
      });
    });
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('readAll');
    let next = options.from === undefined ? 0 : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const filter = validateFilter(options.filter);
    let consistency = validateConsistency(options.consistency);
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    let first = true;
    return this.pages(limit, (pageLimit) => {
      const from = next;
      const asked = consistency;
      consistency = 'local';
      const minPosition = first ? options.minPosition : undefined;
      first = false;
      return this.request('readAll', (w, id) => writeReadAll(w, id, from, pageLimit, filter, asked, minPosition), (response) => {
        const page = eventsPage('readAll', response);
        next = page.next;
        return page;
      });
    });
  }

  subscribe(options: SubscribeOptions = {}): Subscription<Event | TransientEvent> {
    this.ensureOpen('subscribe');
    const from = options.from ?? 'start';
    if (from !== 'start' && from !== 'end') validateIndex(from, 'from');
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    const filter = validateFilter(options.filter);
    const subscription = new RemoteSubscription(this.subscriptionHost, from, filter, options.transient === true, this.options.subscriptionWindow, options.signal, undefined, options.minPosition);
    this.track(subscription);
    subscription.subscribe();
    return subscription;
  }

  async readAndSubscribe(stream: string, options: { signal?: AbortSignal } = {}): Promise<ReadAndSubscribeResult> {
    this.ensureOpen('readAndSubscribe');
    const name = validateStream(stream);
    const subscription = new RemoteSubscription(this.subscriptionHost, 'end', undefined, true, this.options.subscriptionWindow, options.signal, name);
    const cut = subscription.whenCut();
    this.track(subscription);
    subscription.subscribe();
    return cut;
  }

  count(stream: string): Promise<number> {
    try {
      this.ensureOpen('count');
      const name = validateStream(stream);
      return this.request('count', (w, id) => writeCount(w, id, name), (response) => {
        if (response.kind !== 'count') throw unexpected('count', response);
        return response.count;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  headPosition(): Promise<number> {
    try {
      this.ensureOpen('headPosition');
      return this.request('headPosition', (w, id) => writeHead(w, id), (response) => {
        if (response.kind !== 'head') throw unexpected('headPosition', response);
        return response.position;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  streams(options: { prefix?: string; limit?: number } = {}): AsyncIterable<StreamInfo> {
    this.ensureOpen('streams');
    const limit = validateLimit(options.limit);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string') throw new InvalidArgumentError(`invalid prefix ${describe(prefix)}: expected a string`);
    const log = this;
    const pageSize = this.options.readPageEvents;
    return {
      async *[Symbol.asyncIterator]() {
        let after = '';
        let remaining = limit;
        while (remaining > 0) {
          const asked = Math.min(remaining, pageSize);
          const page = await log.request('streams', (w, id) => writeStreams(w, id, prefix, after, asked), (response) => {
            if (response.kind !== 'streams') throw unexpected('streams', response);
            return response.streams;
          });
          for (const info of page) yield info;
          remaining -= page.length;
          if (page.length < asked) return;
          after = page[page.length - 1]!.stream;
        }
      },
    };
  }

  /** Fails what is in flight with LOG_CLOSED, ends subscriptions, closes the connection. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.sweeper);
    this.flush();
    for (const subscription of this.allSubscriptions) subscription.close();
    this.flush();
    this.generation++;
    this.transport?.close();
    this.transport = undefined;
    this.ready = false;
    const error = new LogClosedError('finish the request');
    for (const [id, pending] of this.pending) this.settle(id, pending).fail(error);
  }

  // ---- requests ----

  private request<T>(operation: string, write: (writer: ByteWriter, id: number) => void, accept: (response: Response) => T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError(operation));
    const id = this.newId();
    const writer = this.writer;
    const start = writer.offset;
    write(writer, id);
    const size = writer.offset - start;
    if (size > this.maxFrameBytes) {
      writer.offset = start;
      return Promise.reject(new LimitExceededError(`${operation} of ${size} bytes exceeds the server's maximum frame of ${this.maxFrameBytes} bytes; split it`));
    }
    // The request's own bytes, kept to re-send after a reconnect (the writer never reuses
    // bytes it handed out). While disconnected they are copied out and the writer rewound:
    // they go out from `frame` once connected.
    let frame = writer.bytes.subarray(start, writer.offset);
    if (!this.ready) {
      frame = frame.slice();
      writer.offset = start;
    } else {
      this.scheduleFlush();
    }
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        frame,
        sent: this.ready,
        operation,
        deadline: Date.now() + this.options.timeoutMs,
        accept: (response) => {
          if (response.kind === 'error') reject(response.error);
          else {
            try {
              resolve(accept(response));
            } catch (error) {
              reject(error);
            }
          }
        },
        fail: reject,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        pending.onAbort = () => {
          const current = this.pending.get(id);
          if (current) this.settle(id, current).fail(new AbortedError(operation));
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.pending.set(id, pending);
      if (this.pending.size === 1) this.holdProcess(true);
    });
  }

  private settle(id: number, pending: Pending): Pending {
    this.pending.delete(id);
    if (this.pending.size === 0) this.holdProcess(false);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    return pending;
  }

  /** Paged reads: the next page is requested as soon as one arrives, so the network overlaps the consumer. */
  private pages(limit: number, fetchPage: (pageLimit: number) => Promise<{ events: Event[]; done: boolean }>): AsyncIterable<Event> {
    const pageSize = this.options.readPageEvents;
    return {
      async *[Symbol.asyncIterator]() {
        let remaining = limit;
        let page = fetchPage(Math.min(remaining, pageSize));
        while (remaining > 0) {
          const { events, done } = await page;
          const take = Math.min(events.length, remaining);
          remaining -= take;
          const more = !done && remaining > 0;
          if (more) page = fetchPage(Math.min(remaining, pageSize));
          for (let i = 0; i < take; i++) yield events[i]!;
          if (!more) return;
        }
      },
    };
  }

  private newId(): number {
    const id = this.nextId;
    this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }

  private track(subscription: RemoteSubscription): void {
    this.allSubscriptions.add(subscription);
    this.holdProcess(true);
    const close = subscription.close.bind(subscription);
    subscription.close = () => {
      this.allSubscriptions.delete(subscription);
      if (this.pending.size === 0) this.holdProcess(false);
      close();
    };
  }

  /**
   * Like a socket, the client keeps the process alive while someone waits on it (a request or
   * a subscription), also while it is reconnecting: the deadline timer is what holds it.
   */
  private holdProcess(hold: boolean): void {
    const timer = this.sweeper as { ref?: () => void; unref?: () => void };
    if (hold || this.allSubscriptions.size > 0) timer.ref?.();
    else timer.unref?.();
  }

  // ---- output: one write per turn ----

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    scheduleTurnEnd(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.writer.offset === 0) return;
    const bytes = this.writer.take();
    if (this.ready) this.transport?.send(bytes);
  }

  // ---- connection ----

  private connectNow(): void {
    if (this.isClosed || this.connecting) return;
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
      onClose: (error) => this.connectionLost(generation, error ?? new UnavailableError(`${url.href} closed the connection`)),
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

  private onFrame(frame: Frame, generation: number): void {
    if (generation !== this.generation) return;
    const response = readResponse(frame);
    const id = frame.requestId;
    if (id === CONNECTION_ID) {
      this.onConnectionFrame(response, generation);
      return;
    }
    const subscription = this.subscriptions.get(id);
    if (subscription) {
      subscription.onResponse(response);
      return;
    }
    const pending = this.pending.get(id);
    if (!pending) return; // a late answer to a request that timed out or was aborted: dropped
    if (response.kind === 'error' && response.error instanceof NotLeaderError) {
      // A follower wrote nothing: take the request to the leader (it stays pending, with its
      // deadline, and is re-sent there as the same bytes).
      this.followLeader(id, pending, response.error);
      return;
    }
    this.settle(id, pending).accept(response);
  }

  /**
   * A cluster node that is not the leader refused a write: reconnect to the leader it named, or,
   * when it knows none, to the next node (every pending request goes along).
   */
  private followLeader(id: number, pending: Pending, error: NotLeaderError): void {
    this.leaderRedirects++;
    const leader = error.leaderUrl !== undefined ? parseLeaderUrl(error.leaderUrl) : undefined;
    if (leader) {
      let at = this.urls.findIndex((url) => url.host === leader.host && url.protocol === leader.protocol);
      if (at < 0) at = this.urls.push(leader) - 1;
      this.urlIndex = at;
      this.attempt = 0;
      this.connectionFailed(this.generation, new UnavailableError(`${pending.operation}: redirected to the leader ${error.leader} at ${error.leaderUrl}`));
      return;
    }
    // No leader known there (an election runs, or the node left the membership): try the
    // next node, with the reconnect backoff.
    this.connectionFailed(this.generation, new UnavailableError(`${pending.operation}: ${error.message}`));
  }

  /** Writes sent again because the node they reached was not the leader. */
  get redirects(): number {
    return this.leaderRedirects;
  }

  private onConnectionFrame(response: Response, generation: number): void {
    if (response.kind === 'welcome') {
      this.ready = true;
      this.connecting = false;
      this.attempt = 0;
      this.maxFrameBytes = response.maxFrameBytes;
      this.writer.take(); // anything encoded before the handshake is re-sent below from its own bytes
      for (const pending of this.pending.values()) {
        if (pending.sent) markResent(pending.frame);
        pending.sent = true;
        this.transport!.send(pending.frame);
      }
      for (const subscription of this.allSubscriptions) subscription.subscribe();
      this.flush();
      const first = this.firstConnect;
      this.firstConnect = undefined;
      first?.resolve();
      if (!first) for (const listener of this.reconnectListeners) listener();
      return;
    }
    if (response.kind === 'error') {
      const { error } = response;
      if (!this.ready && (error.code === 'UNAUTHENTICATED' || error.code === 'PROTOCOL_ERROR')) {
        // The server refused us: retrying with the same token or version cannot help.
        this.fatal(error);
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
    this.lastError = error;
    if (this.ready) this.lostConnections++;
    this.transport?.close();
    this.transport = undefined;
    this.ready = false;
    this.connecting = false;
    if (this.isClosed) return;
    for (const subscription of this.allSubscriptions) subscription.suspend();
    this.subscriptions.clear();
    const delay = Math.min(this.options.reconnectDelayMs * 2 ** this.attempt, this.options.maxReconnectDelayMs);
    this.attempt = Math.min(this.attempt + 1, 30);
    // Jitter: many clients that lost the same server do not come back in lockstep.
    const timer = setTimeout(() => this.connectNow(), delay * (0.5 + Math.random() / 2));
    // Like a socket, the client keeps the process alive while someone waits on it.
    if (this.pending.size === 0 && this.allSubscriptions.size === 0) (timer as { unref?: () => void }).unref?.();
  }

  private fatal(error: OrdoError): void {
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.reject(error);
    for (const [id, pending] of this.pending) this.settle(id, pending).fail(error);
    for (const subscription of this.allSubscriptions) subscription.fail(error);
    void this.close();
  }

  /** Deadlines, and a ping on a quiet connection so a dead peer is noticed. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) continue;
      const error = this.ready
        ? new TimeoutError(pending.operation, this.options.timeoutMs)
        : new UnavailableError(`${pending.operation}: no connection to an Ordo server within ${this.options.timeoutMs} ms${this.lastError ? ` (${this.lastError.message})` : ''}`, this.lastError);
      this.settle(id, pending).fail(error);
    }
    if (!this.ready) return;
    if (now - this.lastReceived > DEAD_CONNECTION_MS) {
      this.connectionFailed(this.generation, new UnavailableError(`no answer from the server for ${DEAD_CONNECTION_MS} ms`));
      return;
    }
    if (now - this.lastReceived > PING_INTERVAL_MS && now - this.lastPing > PING_INTERVAL_MS) {
      this.lastPing = now;
      writePing(this.writer, CONNECTION_ID);
      this.scheduleFlush();
    }
  }

  private ensureOpen(operation: string): void {
    if (this.isClosed) throw new LogClosedError(operation);
  }
}

/** Runs `callback` after the current turn's microtasks: every request made in this turn goes out in one write. */
const nodeProcess = (globalThis as { process?: { nextTick?: (callback: () => void) => void } }).process;
const scheduleTurnEnd: (callback: () => void) => void =
  typeof nodeProcess?.nextTick === 'function' ? (callback) => nodeProcess.nextTick!(callback) : (callback) => queueMicrotask(callback);

/** Flags a write request as re-sent, so the server looks up its retry keys (docs/protocol.md). */
function markResent(frame: Uint8Array): void {
  const type = frame[FRAME_TYPE_OFFSET];
  if (type === FrameType.APPEND || type === FrameType.APPEND_MANY || type === FrameType.EXISTS_OR_WRITE) frame[FRAME_FLAGS_OFFSET]! |= REQUEST_RESENT;
}

const FRAME_TYPE_OFFSET = 4;
const FRAME_FLAGS_OFFSET = 5;

function appendResult(response: Response): AppendResult {
  if (response.kind !== 'appendOk') throw unexpected('append', response);
  const { position, index, count } = response.result;
  return { position, index, count };
}

function eventsPage(operation: string, response: Response): { events: Event[]; next: number; done: boolean } {
  if (response.kind !== 'events') throw unexpected(operation, response);
  return { events: response.events, next: response.next, done: (response.flags & EVENTS_DONE) !== 0 };
}

function unexpected(operation: string, response: Response): ProtocolError {
  return new ProtocolError(`${operation}: unexpected answer ${response.kind}`);
}

function validateAck(ack: unknown): AckMode {
  if (ack === undefined) return 'quorum';
  if (ack === 'none' || ack === 'leader' || ack === 'quorum') return ack;
  throw new InvalidArgumentError(`invalid ack ${describe(ack)}: expected 'none', 'leader' or 'quorum'`);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A leader's URL as a server reported it; undefined if it is not one this client can use. */
function parseLeaderUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'ordo:' || url.protocol === 'ordos:' || url.protocol === 'ws:' || url.protocol === 'wss:' ? url : undefined;
  } catch {
    return undefined;
  }
}

function validateConsistency(value: unknown): ReadConsistency {
  if (value === undefined || value === 'linearizable') return 'linearizable';
  if (value === 'local') return 'local';
  throw new InvalidArgumentError(`invalid consistency ${describe(value)}: expected 'linearizable' or 'local'`);
}
