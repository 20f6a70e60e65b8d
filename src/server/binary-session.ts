import type { Logger } from 'pino';
import type { NodeSubscription, OrdoNode, WriteOutcome, WriteRequest } from '../node/index.js';
import { ByteWriter } from '../protocol/bytes.js';
import { DEFAULT_MAX_FRAME_BYTES, EVENTS_DONE, EVENTS_HISTORY, FrameType, PROTOCOL_VERSION } from '../protocol/constants.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import { readRequest, type Request } from '../protocol/requests.js';
import {
  writeAppendManyOk,
  writeAppendOk,
  writeCountOk,
  writeCut,
  writeError,
  writeEvents,
  writeHeadOk,
  writeOk,
  writePong,
  writeStoredEvents,
  writeStreamsOk,
  writeWelcome,
} from '../protocol/responses.js';
import { LimitExceededError, NotLeaderError, OrdoError, ProtocolError, TimeoutError } from '../types/errors.js';
import type { Message } from '../raft/index.js';
import type { SnapshotFrame } from '../node/index.js';
import type { Event, StreamInfo } from '../types/event.js';
import { DEFAULT_MAX_EVENT_BYTES } from '../types/validate.js';
import { authorize, type Authenticator, type Operation, type Principal } from './auth.js';
import { EVENTS_FRAME_TARGET_BYTES, SubscriptionPump, type RawCatchUp } from './subscription-pump.js';
import type { Wire } from './wire.js';

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

/** Events a read page holds at most, and its approximate byte budget. */
export const MAX_PAGE_EVENTS = 4096;

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
  peerUrls?: Readonly<Record<string, string>>;
}

/** HELLO's client name on a connection from another node of the cluster. */
export const PEER_CLIENT_PREFIX = 'peer:';

type Answer = (writer: ByteWriter) => void;

/**
 * The binary protocol on one connection: handshake, then requests answered out of order (each
 * answer carries its request id), subscriptions pumped under credit, and every answer written
 * in this event-loop turn coalesced into one write.
 */
export class BinarySession {
  private readonly decoder: FrameDecoder;
  private readonly out = new ByteWriter();
  private flushScheduled = false;
  private principal: Principal | undefined;
  private inFlight = 0;
  private readingPaused = false;
  private readonly pumps = new Map<number, SubscriptionPump>();
  private draining = false;
  private ended = false;
  private idleWaiters: Array<() => void> = [];
  private appendQueue: Array<{ id: number; request: Extract<Request, { op: 'append' }> }> = [];
  private drainWaiters: Array<() => void> = [];
  /** The node id of a peer connection (HELLO's client name `peer:<id>`). */
  private peer: string | undefined;

  constructor(
    private readonly wire: Wire,
    private readonly options: SessionOptions,
  ) {
    this.decoder = new FrameDecoder(options.limits.maxFrameBytes, (frame) => this.onFrame(frame));
    this.handshakeTimer = setTimeout(() => {
      // TIMEOUT, not PROTOCOL_ERROR: a HELLO held up on the way (a slow or cut network) is no
      // fault of the client's, which reconnects (found by the chaos run, seed 7).
      if (this.principal === undefined && !this.ended) this.fail(new TimeoutError('the handshake (HELLO)', options.limits.handshakeTimeoutMs));
    }, options.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  private readonly handshakeTimer: NodeJS.Timeout;

  /** Bytes from the client. A protocol violation closes this connection only. */
  receive(chunk: Uint8Array): void {
    if (this.ended) return;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.appendQueue = [];
      this.fail(error);
      return;
    }
    if (this.appendQueue.length > 0) this.runAppends();
  }

  /** The wire closed (client gone): stop every pump, drop pending answers. */
  closed(): void {
    clearTimeout(this.handshakeTimer);
    this.ended = true;
    for (const pump of [...this.pumps.values()]) pump.stop();
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** Graceful shutdown: no new requests, end subscriptions, wait for in-flight answers, close. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.ended) return;
    // New frames are dropped from now on (onFrame); the socket keeps being read, so the
    // client's close is seen and the connection ends promptly.
    this.draining = true;
    this.wire.resume();
    for (const pump of [...this.pumps.values()]) pump.end();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.flush();
    this.ended = true;
    this.wire.end();
  }

  // ---- input ----

  private onFrame(frame: Frame): void {
    if (this.draining || this.ended) return;
    if (this.principal === undefined) {
      this.handshake(frame);
      return;
    }
    let request: Request;
    try {
      request = readRequest(frame, this.options.limits);
    } catch (error) {
      if (error instanceof ProtocolError || !(error instanceof OrdoError)) throw error;
      // Well-formed frame, bad values (an invalid event, too large…): fail this request only.
      this.send((w) => writeError(w, frame.requestId, error));
      this.options.metrics.request(operationOf(frame.type), this.wire.transport, error.code);
      return;
    }
    this.dispatch(frame.requestId, request);
  }

  private handshake(frame: Frame): void {
    clearTimeout(this.handshakeTimer);
    if (frame.type !== FrameType.HELLO) throw new ProtocolError(`the first frame must be HELLO, got type ${frame.type}`);
    const hello = readRequest(frame, this.options.limits);
    if (hello.op !== 'hello') throw new ProtocolError('the first frame must be HELLO');
    if (hello.version !== PROTOCOL_VERSION) {
      throw new ProtocolError(`protocol version ${hello.version} is not supported; this server speaks version ${PROTOCOL_VERSION}`);
    }
    try {
      this.principal = this.options.auth.authenticate(hello.token || undefined);
    } catch (error) {
      this.send((w) => writeError(w, frame.requestId, error as OrdoError));
      this.options.logger.warn({ remote: this.wire.remote, transport: this.wire.transport, client: hello.client }, 'refused: %s', (error as Error).message);
      this.flush();
      this.ended = true;
      this.wire.end();
      return;
    }
    if (hello.client.startsWith(PEER_CLIENT_PREFIX)) this.peer = hello.client.slice(PEER_CLIENT_PREFIX.length);
    const { limits, serverName } = this.options;
    this.send((w) => writeWelcome(w, frame.requestId, PROTOCOL_VERSION, serverName, limits.maxFrameBytes, limits.maxInFlight));
    this.options.logger.debug({ remote: this.wire.remote, transport: this.wire.transport, client: hello.client, principal: this.principal.name }, 'client connected');
  }

  private dispatch(id: number, request: Request): void {
    switch (request.op) {
      case 'ping':
        this.send((w) => writePong(w, id));
        return;
      case 'credit':
        this.pumps.get(id)?.addCredit(request.events);
        return;
      case 'unsubscribe': {
        this.pumps.get(id)?.stop();
        return;
      }
      case 'hello':
        throw new ProtocolError('HELLO after the handshake');
      case 'raft':
        this.deliverRaft(request.messages);
        return;
      case 'snapshot':
        this.deliverRaft([request.frame]);
        return;
      default:
    }
    try {
      authorize(this.principal!, request.op);
    } catch (error) {
      this.answerError(id, request.op, error);
      return;
    }
    if (request.op === 'subscribe' || request.op === 'readAndSubscribe') {
      this.subscribe(id, request);
      return;
    }
    this.inFlight++;
    if (this.inFlight >= this.options.limits.maxInFlight) this.pauseReading();
    if (request.op === 'append') {
      // Appends read in one chunk go to the log together (see runAppends).
      this.appendQueue.push({ id, request });
      return;
    }
    this.run(id, request).then(
      (answer) => {
        this.send(answer);
        this.options.metrics.request(request.op, this.wire.transport, 'ok');
        this.settled();
      },
      (error) => {
        this.answerError(id, request.op, error);
        this.settled();
      },
    );
  }

  /**
   * The appends of one read, handed to the log in one call: each is still decided on its own
   * and answered on its own, but they share one promise and one staged entry in the log
   * instead of a handful each (pipelined single-event appends are mostly this overhead).
   */
  private runAppends(): void {
    const queue = this.appendQueue;
    this.appendQueue = [];
    const requests = queue.map(({ request }) => ({ parts: [{ stream: request.stream, expected: request.expected, events: request.events, claims: request.claims }], ack: request.ack, resent: request.resent }));
    const { metrics } = this.options;
    const transport = this.wire.transport;
    this.options.log.write(requests).then(
      (outcomes) => {
        for (let i = 0; i < queue.length; i++) {
          const id = queue[i]!.id;
          const outcome = outcomes[i]!;
          if (outcome instanceof Error) {
            this.answerError(id, 'append', outcome);
          } else {
            const part = outcome.parts[0]!;
            this.send((w) => writeAppendOk(w, id, part.position, part.index, part.count, true));
            metrics.request('append', transport, 'ok');
          }
          this.settled();
        }
      },
      (error) => {
        for (const { id } of queue) {
          this.answerError(id, 'append', error);
          this.settled();
        }
      },
    );
  }

  /**
   * A peer node's Raft messages: one-way (this node answers over its own connection to the
   * peer). Only a connection that introduced itself as that node, with an admin token, may
   * send them, and only messages addressed to this node are taken.
   */
  private deliverRaft(messages: Array<Message | SnapshotFrame>): void {
    authorize(this.principal!, 'raft');
    const log = this.options.log;
    for (const m of messages) {
      if (m.from !== this.peer) throw new ProtocolError(`a raft message from ${JSON.stringify(m.from)} on the connection of peer ${JSON.stringify(this.peer ?? '(not a peer)')}`);
      if (m.to !== log.nodeId) continue;
      log.deliver(m);
    }
  }

  private async run(id: number, request: Exclude<Request, { op: 'hello' | 'ping' | 'credit' | 'unsubscribe' | 'subscribe' | 'readAndSubscribe' | 'append' | 'raft' | 'snapshot' }>): Promise<Answer> {
    const log = this.options.log;
    switch (request.op) {
      case 'appendMany': {
        const outcome = await writeOne(log, { parts: request.parts, ack: request.ack, resent: request.resent });
        return (w) => writeAppendManyOk(w, id, { position: outcome.parts[0]!.position, streams: outcome.parts });
      }
      case 'existsOrWrite': {
        const part = { stream: request.stream, expected: request.index, events: [request.event] };
        const outcome = await writeOne(log, { parts: [part], ack: 'quorum', resent: request.resent, existsOrWrite: true });
        const result = outcome.parts[0]!;
        return (w) => writeAppendOk(w, id, result.position, result.index, result.count, outcome.written);
      }
      case 'publishTransient':
        log.publish(request.stream, request.event);
        return (w) => writeOk(w, id);
      case 'read': {
        const limit = pageLimit(request.limit);
        const page = await collectPage(log.read(request.stream, { from: request.from, limit, backwards: request.backwards, consistency: request.consistency, minPosition: request.minPosition }), limit);
        const last = page.events[page.events.length - 1];
        const next = last ? (request.backwards ? last.index - 1 : last.index + 1) : (request.from ?? 0);
        const done = page.done || next < 0;
        return (w) => this.writePage(w, id, done, Math.max(next, 0), page.events);
      }
      case 'readAll': {
        const limit = pageLimit(request.limit);
        if (request.filter === undefined && request.minPosition === undefined) {
          // The whole log: pages go out as stored records, no event decoded.
          const records = await log.readRaw(request.from, EVENTS_FRAME_TARGET_BYTES, limit, request.consistency);
          const next = records.count > 0 ? records.last + 1 : request.from;
          const done = next > log.committedPosition;
          return (w) => writeStoredEvents(w, id, done ? EVENTS_DONE : 0, next, records);
        }
        const page = await collectPage(log.readAll({ from: request.from, limit, filter: request.filter, consistency: request.consistency, minPosition: request.minPosition }), limit);
        const last = page.events[page.events.length - 1];
        const next = last ? last.position + 1 : request.from;
        return (w) => this.writePage(w, id, page.done, next, page.events);
      }
      case 'count': {
        const count = await log.count(request.stream);
        return (w) => writeCountOk(w, id, count);
      }
      case 'headPosition': {
        const position = await log.headPosition();
        return (w) => writeHeadOk(w, id, position);
      }
      case 'streams': {
        const streams: StreamInfo[] = [];
        let skipping = request.after !== '';
        const limit = pageLimit(request.limit);
        for await (const info of log.streams({ prefix: request.prefix })) {
          if (skipping) {
            skipping = info.stream !== request.after;
            continue;
          }
          streams.push(info);
          if (streams.length >= limit) break;
        }
        return (w) => writeStreamsOk(w, id, streams);
      }
    }
  }

  private writePage(w: ByteWriter, id: number, done: boolean, next: number, events: Event[]): void {
    writeEvents(w, id, done ? EVENTS_DONE : 0, next, events);
  }

  private subscribe(id: number, request: Extract<Request, { op: 'subscribe' | 'readAndSubscribe' }>): void {
    const { limits, log, metrics } = this.options;
    if (this.pumps.has(id)) throw new ProtocolError(`subscription id ${id} is already in use on this connection`);
    if (this.pumps.size >= limits.maxSubscriptions) {
      this.answerError(id, request.op, new LimitExceededError(`this connection already has ${this.pumps.size} subscriptions, the limit is ${limits.maxSubscriptions}`));
      return;
    }
    const transport = this.wire.transport;
    const open = (subscription: NodeSubscription | undefined, raw?: RawCatchUp): SubscriptionPump => {
      const pump = new SubscriptionPump(id, subscription, request.credit, this.output, (ended) => {
        if (this.pumps.get(ended.id) === ended) this.pumps.delete(ended.id);
        metrics.subscriptionClosed(transport);
      }, raw);
      this.pumps.set(id, pump);
      metrics.subscriptionOpened(transport);
      metrics.request(request.op, transport, 'ok');
      return pump;
    };
    if (request.op === 'subscribe') {
      const { from, filter, transient, minPosition } = request;
      let subscription: NodeSubscription | undefined;
      let raw: RawCatchUp | undefined;
      try {
        if (filter === undefined && from !== 'end') {
          // The whole log from a position: catch up from the stored bytes, then go live.
          raw = {
            next: from === 'start' ? 0 : from,
            read: (position, maxBytes, maxEvents) => log.readRaw(position, maxBytes, maxEvents),
            committed: () => log.committedPosition,
            subscribeFrom: (position) => log.subscribe({ from: position, transient }),
          };
        } else {
          subscription = log.subscribe({ from, filter, transient, minPosition });
        }
      } catch (error) {
        this.answerError(id, request.op, error);
        return;
      }
      open(subscription, raw).start();
      return;
    }
    log.readAndSubscribe(request.stream).then(
      ({ count, history, live }) => {
        if (this.ended || this.draining) {
          live.close();
          return;
        }
        const pump = open(live);
        for (let start = 0; start < history.length; ) {
          let end = start;
          let bytes = 0;
          while (end < history.length && bytes < EVENTS_FRAME_TARGET_BYTES) bytes += history[end++]!.data.byteLength + 128;
          const chunk = history.slice(start, end);
          this.send((w) => writeEvents(w, id, EVENTS_HISTORY, chunk[chunk.length - 1]!.index + 1, chunk));
          start = end;
        }
        this.send((w) => writeCut(w, id, count));
        pump.start();
      },
      (error) => this.answerError(id, request.op, error),
    );
  }

  private readonly output = {
    send: (write: Answer) => this.send(write),
    congested: () => this.wire.bufferedBytes + this.out.length > this.options.limits.maxBufferedBytes,
    drained: () => new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
  };

  private answerError(id: number, operation: string, error: unknown): void {
    let ordo = error instanceof OrdoError ? error : new OrdoError('UNAVAILABLE', `internal error: ${(error as Error)?.message ?? String(error)}`);
    // Tell the client where the leader is, so it can go there.
    if (ordo instanceof NotLeaderError && ordo.leader !== undefined && ordo.leaderUrl === undefined) {
      const url = this.options.peerUrls?.[ordo.leader];
      if (url) ordo = new NotLeaderError(operation, ordo.leader, url);
    }
    if (!(error instanceof OrdoError)) this.options.logger.error({ err: error, operation }, 'request failed');
    this.send((w) => writeError(w, id, ordo));
    this.options.metrics.request(operation, this.wire.transport, ordo.code);
  }

  private settled(): void {
    this.inFlight--;
    if (this.readingPaused && this.inFlight <= this.options.limits.maxInFlight / 2) this.resumeReading();
    if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  // ---- output ----

  /** Writes an answer into this turn's buffer; the buffer goes out in one write at the turn's end. */
  private send(write: Answer): void {
    if (this.ended) return;
    write(this.out);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After this macrotask and its promise chains: answers made in one turn leave in one write.
      process.nextTick(this.flushSoon);
    }
  }

  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.out.length === 0 || this.ended) return;
    this.wire.write(this.out.take());
    if (this.wire.bufferedBytes > this.options.limits.maxBufferedBytes) {
      // The client does not read its answers: stop reading its requests until it catches up.
      this.pauseReading();
      this.wire.onceDrained(() => {
        this.resumeReading();
        for (const resolve of this.drainWaiters.splice(0)) resolve();
      });
    }
  }

  private pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.wire.pause();
  }

  private resumeReading(): void {
    if (!this.readingPaused || this.draining) return;
    if (this.inFlight >= this.options.limits.maxInFlight) return;
    if (this.wire.bufferedBytes > this.options.limits.maxBufferedBytes) return;
    this.readingPaused = false;
    this.wire.resume();
  }

  private fail(error: unknown): void {
    // An Ordo error keeps its code (PERMISSION_DENIED for a peer frame without the admin scope…).
    const protocolError = error instanceof OrdoError ? error : new ProtocolError(`internal error while reading a frame: ${(error as Error)?.message ?? String(error)}`);
    this.options.logger.warn({ remote: this.wire.remote, transport: this.wire.transport }, 'closing the connection: %s', protocolError.message);
    this.send((w) => writeError(w, 0, protocolError));
    this.flush();
    this.ended = true;
    for (const pump of [...this.pumps.values()]) pump.stop();
    this.wire.end();
  }
}

function pageLimit(requested: number): number {
  return requested === 0 ? MAX_PAGE_EVENTS : Math.min(requested, MAX_PAGE_EVENTS);
}

/** Up to `limit` events or about EVENTS_FRAME_TARGET_BYTES; `done` when the source ran out. */
async function collectPage(source: AsyncIterable<Event>, limit: number): Promise<{ events: Event[]; done: boolean }> {
  const events: Event[] = [];
  let bytes = 0;
  for await (const event of source) {
    events.push(event);
    bytes += event.data.byteLength + 128;
    if (events.length >= limit || bytes >= EVENTS_FRAME_TARGET_BYTES) return { events, done: false };
  }
  return { events, done: true };
}

const OPERATIONS: Record<number, Operation | 'ping'> = {
  [FrameType.APPEND]: 'append',
  [FrameType.APPEND_MANY]: 'appendMany',
  [FrameType.EXISTS_OR_WRITE]: 'existsOrWrite',
  [FrameType.PUBLISH_TRANSIENT]: 'publishTransient',
  [FrameType.READ]: 'read',
  [FrameType.READ_ALL]: 'readAll',
  [FrameType.SUBSCRIBE]: 'subscribe',
  [FrameType.READ_AND_SUBSCRIBE]: 'readAndSubscribe',
  [FrameType.COUNT]: 'count',
  [FrameType.HEAD]: 'headPosition',
  [FrameType.STREAMS]: 'streams',
};

function operationOf(type: number): string {
  return OPERATIONS[type] ?? 'unknown';
}

/** One write through the node's write entry point: its outcome, or its error thrown. */
async function writeOne(log: OrdoNode, request: WriteRequest): Promise<WriteOutcome> {
  const [outcome] = await log.write([request]);
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}
