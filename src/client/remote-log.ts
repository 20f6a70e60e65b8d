import { ByteWriter } from '../protocol/bytes.js';
import { validateClaimChanges } from '../types/claims.js';
import { RandomIds } from '../types/random-ids.js';
import {
  writeAppend,
  writeAppendMany,
  writeCount,
  writeExistsOrWrite,
  writeHead,
  writePing,
  writePublishTransient,
  writeRead,
  writeReadAll,
  writeStreams,
} from '../protocol/requests.js';
import type { Response } from '../protocol/responses.js';
import {
  AbortedError,
  InvalidArgumentError,
  LimitExceededError,
  LogClosedError,
  NotLeaderError,
  UnknownOutcomeError,
  type OrdoError,
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
  ReadOptions,
  StreamAppend,
  StreamInfo,
  SubscribeOptions,
  Subscription,
  TransientEvent,
} from '../types/event.js';
import type {
  DeleteStreamOptions,
  EraseStreamOptions,
  EraseStreamResult,
  DeleteStreamResult,
  GetStreamMetadataOptions,
  SetStreamMetadataOptions,
  SetStreamMetadataResult,
  StreamMetadata,
  StreamMetadataResult,
} from '../types/stream-metadata.js';
import {
  prepareEvent,
  prepareEvents,
  prepareStreamAppends,
  validateAck,
  validateExpected,
  validateFilter,
  validateIndex,
  validateLimit,
  validateStream,
} from '../types/validate.js';
import { appendResult, eventsPage, unexpected, validateConsistency } from './answers.js';
import { resolveConnectOptions, type ConnectOptions, type ResolvedConnectOptions } from './connect-options.js';
import { CONNECTION_ID, Connection } from './connection.js';
import {
  deleteStreamRequest,
  eraseRequest,
  getMetadataRequest,
  setMetadataRequest,
  type LifecycleRequest,
} from './lifecycle.js';
import { scheduleTurnEnd } from './outgoing.js';
import { pagedEvents, streamPages, type PageRequest } from './paging.js';
import { PendingRequests } from './pending-requests.js';
import { RemoteSubscription, type SubscriptionHost } from './remote-subscription.js';
import type { TransportFactory } from './transport.js';

export type { ConnectOptions } from './connect-options.js';

/** How often deadlines are checked and an idle connection is pinged. */
const SWEEP_INTERVAL_MS = 200;
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
  private readonly pending = new PendingRequests((busy) => this.holdProcess(busy));
  private readonly subscriptions = new Map<number, RemoteSubscription>();
  private readonly allSubscriptions = new Set<RemoteSubscription>();
  private readonly options: ResolvedConnectOptions;
  private nextId = 1;
  private isClosed = false;
  private flushScheduled = false;
  private readonly sweeper: ReturnType<typeof setInterval>;
  private firstConnect: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly subscriptionHost: SubscriptionHost;
  private readonly connection: Connection;

  constructor(urls: readonly URL[], transportFor: (url: URL) => TransportFactory, options: ConnectOptions = {}) {
    this.options = resolveConnectOptions(options);
    this.connection = this.connectionTo(urls, transportFor);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    (this.sweeper as { unref?: () => void }).unref?.();
    this.subscriptionHost = {
      encode: (write) => {
        if (!this.connection.ready) return undefined;
        const id = this.newId();
        write(this.writer, id);
        this.scheduleFlush();
        return id;
      },
      register: (id, subscription) => this.subscriptions.set(id, subscription),
      unregister: (id) => this.subscriptions.delete(id),
      later: (action) => {
        const timer = setTimeout(() => {
          if (this.connection.ready) action();
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
      const servers = this.connection.urls.map((url) => url.href).join(', ');
      const { lastError } = this.connection;
      first.reject(
        new UnavailableError(
          `no Ordo server reachable at ${servers} within ${this.options.connectTimeoutMs}` +
            ` ms${lastError ? `: ${lastError.message}` : ''}`,
          lastError,
        ),
      );
      void this.close();
    }, this.options.connectTimeoutMs);
    this.connection.connect();
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
    return this.connection.ready;
  }

  /** Connections lost since `connect` (each followed by a reconnect attempt). */
  get disconnects(): number {
    return this.connection.disconnects;
  }

  /** Writes sent again because the node they reached was not the leader. */
  get redirects(): number {
    return this.connection.redirects;
  }

  // ---- the EventLog interface ----

  append(stream: string, events: EventInput | EventInput[], options: AppendOptions = {}): Promise<AppendResult> {
    return rejectThrown(() => {
      this.ensureOpen('append');
      const name = validateStream(stream);
      const expected = validateExpected(options.expected);
      const ack = validateAck(options.ack);
      const prepared = prepareEvents(events, this.options.maxEventBytes);
      const claims = validateClaimChanges(options.claims, options.releases);
      return this.request(
        'append',
        (w, id) => writeAppend(w, id, name, expected, ack, prepared, this.ids, claims),
        appendResult,
        options.signal,
      );
    });
  }

  appendMany(
    appends: StreamAppend[],
    options: { ack?: AckMode; signal?: AbortSignal } = {},
  ): Promise<AppendManyResult> {
    return rejectThrown(() => {
      this.ensureOpen('appendMany');
      const parts = prepareStreamAppends(appends, this.options.maxEventBytes);
      const ack = validateAck(options.ack);
      return this.request(
        'appendMany',
        (w, id) => writeAppendMany(w, id, ack, parts, this.ids),
        (response) => {
          if (response.kind !== 'appendManyOk') throw unexpected('appendMany', response);
          return response.result;
        },
        options.signal,
      );
    });
  }

  existsOrWrite(stream: string, index: number, event: EventInput): Promise<ExistsOrWriteResult> {
    return rejectThrown(() => {
      this.ensureOpen('existsOrWrite');
      const name = validateStream(stream);
      const at = validateIndex(index);
      const prepared = prepareEvent(event, this.options.maxEventBytes);
      return this.request(
        'existsOrWrite',
        (w, id) => writeExistsOrWrite(w, id, name, at, prepared, this.ids),
        (response) => {
          if (response.kind !== 'appendOk') throw unexpected('existsOrWrite', response);
          return response.result;
        },
      );
    });
  }

  publishTransient(stream: string, event: Omit<EventInput, 'metadata'>): Promise<void> {
    return rejectThrown(() => {
      this.ensureOpen('publishTransient');
      const name = validateStream(stream);
      const prepared = prepareEvent(event, this.options.maxEventBytes);
      return this.request(
        'publishTransient',
        (w, id) => writePublishTransient(w, id, name, prepared, this.ids),
        () => undefined,
      );
    });
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('read');
    const name = validateStream(stream, { internal: true });
    const from = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const backwards = options.backwards === true;
    const consistency = validateConsistency(options.consistency);
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    return this.readPages('read', { from, consistency, minPosition: options.minPosition }, limit, (w, id, page) =>
      writeRead(w, id, name, page.from, page.limit, backwards, page.consistency, page.minPosition),
    );
  }

  readAll(options: ReadAllOptions = {}): AsyncIterable<Event> {
    this.ensureOpen('readAll');
    const from = options.from === undefined ? undefined : validateIndex(options.from, 'from');
    const limit = validateLimit(options.limit);
    const filter = validateFilter(options.filter);
    const consistency = validateConsistency(options.consistency);
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    return this.readPages('readAll', { from, consistency, minPosition: options.minPosition }, limit, (w, id, page) =>
      writeReadAll(w, id, page.from ?? 'start', page.limit, filter, page.consistency, page.minPosition),
    );
  }

  subscribe(options: SubscribeOptions = {}): Subscription<Event | TransientEvent> {
    this.ensureOpen('subscribe');
    const from = options.from ?? 'start';
    if (from !== 'start' && from !== 'end') validateIndex(from, 'from');
    if (options.minPosition !== undefined) validateIndex(options.minPosition, 'minPosition');
    const filter = validateFilter(options.filter);
    const subscription = new RemoteSubscription(
      this.subscriptionHost,
      from,
      filter,
      options.transient === true,
      this.options.subscriptionWindow,
      options.signal,
      undefined,
      options.minPosition,
    );
    this.track(subscription);
    subscription.subscribe();
    return subscription;
  }

  async readAndSubscribe(stream: string, options: { signal?: AbortSignal } = {}): Promise<ReadAndSubscribeResult> {
    this.ensureOpen('readAndSubscribe');
    const name = validateStream(stream, { internal: true });
    const subscription = new RemoteSubscription(
      this.subscriptionHost,
      'end',
      undefined,
      true,
      this.options.subscriptionWindow,
      options.signal,
      name,
    );
    const cut = subscription.whenCut();
    this.track(subscription);
    subscription.subscribe();
    return cut;
  }

  count(stream: string): Promise<number> {
    return rejectThrown(() => {
      this.ensureOpen('count');
      const name = validateStream(stream, { internal: true });
      return this.request(
        'count',
        (w, id) => writeCount(w, id, name),
        (response) => {
          if (response.kind !== 'count') throw unexpected('count', response);
          return response.count;
        },
      );
    });
  }

  headPosition(): Promise<number> {
    return rejectThrown(() => {
      this.ensureOpen('headPosition');
      return this.request(
        'headPosition',
        (w, id) => writeHead(w, id),
        (response) => {
          if (response.kind !== 'head') throw unexpected('headPosition', response);
          return response.position;
        },
      );
    });
  }

  streams(options: { prefix?: string; limit?: number } = {}): AsyncIterable<StreamInfo> {
    this.ensureOpen('streams');
    const limit = validateLimit(options.limit);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string')
      throw new InvalidArgumentError(`invalid prefix ${describe(prefix)}: expected a string`);
    return streamPages(limit, this.options.readPageEvents, (after, asked) =>
      this.request(
        'streams',
        (w, id) => writeStreams(w, id, prefix, after, asked),
        (response) => {
          if (response.kind !== 'streams') throw unexpected('streams', response);
          return response.streams;
        },
      ),
    );
  }

  // ---- streams' lifecycles: writes carry a retry key (see writeSetMetadata), so a re-send is applied once ----

  setStreamMetadata(
    stream: string,
    metadata: StreamMetadata,
    options: SetStreamMetadataOptions = {},
  ): Promise<SetStreamMetadataResult> {
    return this.lifecycle('setStreamMetadata', () => setMetadataRequest(stream, metadata, options, this.ids));
  }

  getStreamMetadata(stream: string, options: GetStreamMetadataOptions = {}): Promise<StreamMetadataResult> {
    return this.lifecycle('getStreamMetadata', () => getMetadataRequest(stream, options));
  }

  deleteStream(stream: string, options: DeleteStreamOptions = {}): Promise<DeleteStreamResult> {
    return this.lifecycle('deleteStream', () => deleteStreamRequest(stream, options, this.ids));
  }

  erase(stream: string, options: EraseStreamOptions = {}): Promise<EraseStreamResult> {
    return this.lifecycle('erase', () => eraseRequest(stream, options, this.ids));
  }

  private lifecycle<T>(operation: string, build: () => LifecycleRequest<T>): Promise<T> {
    return rejectThrown(() => {
      this.ensureOpen(operation);
      const request = build();
      return this.request(operation, request.write, request.accept, request.signal);
    });
  }

  /** Fails what is in flight with LOG_CLOSED, ends subscriptions, closes the connection. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.sweeper);
    this.flush();
    for (const subscription of this.allSubscriptions) subscription.close();
    this.flush();
    this.connection.close();
    const error = new LogClosedError('finish the request');
    this.pending.failAll(error);
  }

  // ---- requests ----

  private request<T>(
    operation: string,
    write: (writer: ByteWriter, id: number) => void,
    accept: (response: Response) => T,
    signal?: AbortSignal,
  ): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError(operation));
    const id = this.newId();
    const writer = this.writer;
    const start = writer.offset;
    write(writer, id);
    const size = writer.offset - start;
    const { maxFrameBytes, ready } = this.connection;
    if (size > maxFrameBytes) {
      writer.offset = start;
      return Promise.reject(
        new LimitExceededError(
          `${operation} of ${size} bytes exceeds the server's maximum frame of ${maxFrameBytes} bytes; split it`,
        ),
      );
    }
    // The request's own bytes, kept to re-send after a reconnect (the writer never reuses
    // bytes it handed out). While disconnected they are copied out and the writer rewound:
    // they go out from `frame` once connected.
    let frame = writer.bytes.subarray(start, writer.offset);
    if (!ready) {
      frame = frame.slice();
      writer.offset = start;
    } else {
      this.scheduleFlush();
    }
    const deadline = Date.now() + this.options.timeoutMs;
    return this.pending.add(id, { frame, sent: ready, operation, deadline, signal, accept });
  }

  /** A paged read (see PageRequest): `write` encodes one page's request. */
  private readPages(
    operation: 'read' | 'readAll',
    first: Omit<PageRequest, 'limit'>,
    limit: number,
    write: (writer: ByteWriter, id: number, page: PageRequest) => void,
  ): AsyncIterable<Event> {
    let next = first;
    return pagedEvents(limit, this.options.readPageEvents, (pageLimit) => {
      const page = { ...next, limit: pageLimit };
      next = { from: next.from, consistency: 'local', minPosition: undefined };
      return this.request(
        operation,
        (w, id) => write(w, id, page),
        (response) => {
          const events = eventsPage(operation, response);
          next.from = events.next;
          return events;
        },
      );
    });
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
    this.connection.send(bytes);
  }

  // ---- connection ----

  /** The connection, with what it calls back: answers, (re)connects, losses, a refusal, pings. */
  private connectionTo(urls: readonly URL[], transportFor: (url: URL) => TransportFactory): Connection {
    return new Connection(urls, transportFor, this.options, {
      closed: () => this.isClosed,
      waiting: () => this.pending.size > 0 || this.allSubscriptions.size > 0,
      connected: () => this.onConnected(),
      answer: (id, response) => this.onAnswer(id, response),
      disconnected: () => {
        for (const subscription of this.allSubscriptions) subscription.suspend();
        this.subscriptions.clear();
      },
      refused: (error) => this.fatal(error),
      ping: () => {
        writePing(this.writer, CONNECTION_ID);
        this.scheduleFlush();
      },
    });
  }

  private onAnswer(id: number, response: Response): void {
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
      this.connection.followLeader(pending.operation, response.error);
      return;
    }
    if (response.kind === 'error' && response.error instanceof UnknownOutcomeError) {
      // The write may or may not be in the log: a lost acknowledgement. It stays pending, with
      // its deadline, and is re-sent as a re-send (the log answers it with the original's result).
      this.connection.nodeStopped(pending.operation, response.error);
      return;
    }
    this.pending.settle(id, pending).accept(response);
  }

  /** A handshake succeeded: what waits goes out, subscriptions resume, the first connect resolves. */
  private onConnected(): void {
    this.writer.take(); // anything encoded before the handshake is re-sent below from its own bytes
    this.pending.resend((frame) => this.connection.send(frame));
    for (const subscription of this.allSubscriptions) subscription.subscribe();
    this.flush();
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.resolve();
    if (!first) for (const listener of this.reconnectListeners) listener();
  }

  private fatal(error: OrdoError): void {
    const first = this.firstConnect;
    this.firstConnect = undefined;
    first?.reject(error);
    this.pending.failAll(error);
    for (const subscription of this.allSubscriptions) subscription.fail(error);
    void this.close();
  }

  /** Deadlines, and a ping on a quiet connection so a dead peer is noticed. */
  private sweep(): void {
    const now = Date.now();
    const { ready, lastError } = this.connection;
    this.pending.expire(now, (pending) =>
      ready
        ? new TimeoutError(pending.operation, this.options.timeoutMs)
        : new UnavailableError(
            `${pending.operation}: no connection to an Ordo server within` +
              ` ${this.options.timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`,
            lastError,
          ),
    );
    this.connection.keepAlive(now);
  }

  private ensureOpen(operation: string): void {
    if (this.isClosed) throw new LogClosedError(operation);
  }
}

/** Runs `start`; a synchronous throw (a bad argument, a closed log) becomes a rejected promise. */
function rejectThrown<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}
