import type { NodeSubscription } from '../node/index.js';
import type { Frame } from '../protocol/frame.js';
import { readRequest, type Request } from '../protocol/requests.js';
import { writeAppendOk, writeCut, writeError, writePong } from '../protocol/responses.js';
import { FrameType } from '../protocol/constants.js';
import { LimitExceededError, OrdoError, ProtocolError } from '../types/errors.js';
import { authorize, type Operation, type Principal } from './auth.js';
import { answerRequest, rawCatchUp, sendHistory } from './client-requests.js';
import type { ConnectionSession } from './connection-session.js';
import type { Answer, FrameOutput } from './frame-output.js';
import { withLeaderUrl } from './leader-url.js';
import { deliverRaft } from './peer-session.js';
import type { ReadGate } from './read-gate.js';
import type { SessionOptions } from './session-options.js';
import { SubscriptionPump, type PumpOutput, type RawCatchUp } from './subscription-pump.js';
import type { SubscribeOptions } from '../types/event.js';
import type { Wire } from './wire.js';

type AppendRequest = Extract<Request, { op: 'append' }>;
type SubscribeRequest = Extract<Request, { op: 'subscribe' }>;
type ReadAndSubscribeRequest = Extract<Request, { op: 'readAndSubscribe' }>;
/** The requests that need no scope (handshake, flow control, ping) or carry Raft traffic. */
type ControlRequest = Extract<Request, { op: 'hello' | 'ping' | 'credit' | 'unsubscribe' | 'raft' | 'snapshot' }>;
const CONTROL_OPS: ReadonlySet<Request['op']> = new Set(['hello', 'ping', 'credit', 'unsubscribe', 'raft', 'snapshot']);

/** What a client session shares with its connection. */
export interface ClientConnection {
  wire: Wire;
  output: FrameOutput;
  reading: ReadGate;
}

/**
 * A client's requests on one connection, after the handshake: answered out of order (each
 * answer carries its request id), with subscriptions pumped under credit.
 */
export class BinarySession implements ConnectionSession {
  private inFlightCount = 0;
  private draining = false;
  private readonly pumps = new Map<number, SubscriptionPump>();
  private idleWaiters: Array<() => void> = [];
  private appendQueue: Array<{ id: number; request: AppendRequest }> = [];
  private drainWaiters: Array<() => void> = [];
  private readonly wire: Wire;
  private readonly output: FrameOutput;
  private readonly reading: ReadGate;

  constructor(
    connection: ClientConnection,
    private readonly principal: Principal,
    private readonly options: SessionOptions,
  ) {
    this.wire = connection.wire;
    this.output = connection.output;
    this.reading = connection.reading;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  onFrame(frame: Frame): void {
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

  chunkDone(): void {
    if (this.appendQueue.length > 0) this.runAppends();
  }

  discardQueued(): void {
    this.appendQueue = [];
  }

  drain(timeoutMs: number): Promise<void> | undefined {
    this.draining = true;
    for (const pump of [...this.pumps.values()]) pump.end();
    if (this.inFlightCount === 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  stop(): void {
    for (const pump of [...this.pumps.values()]) pump.stop();
  }

  closed(): void {
    this.stop();
    this.drained();
  }

  drained(): void {
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private dispatch(id: number, request: Request): void {
    if (isControl(request)) {
      this.dispatchControl(id, request);
      return;
    }
    try {
      authorize(this.principal, request.op);
    } catch (error) {
      this.answerError(id, request.op, error);
      return;
    }
    if (request.op === 'subscribe' || request.op === 'readAndSubscribe') {
      this.subscribe(id, request);
      return;
    }
    this.inFlightCount++;
    if (this.inFlightCount >= this.options.limits.maxInFlight) this.reading.pause();
    if (request.op === 'append') {
      // Appends read in one chunk go to the log together (see runAppends).
      this.appendQueue.push({ id, request });
      return;
    }
    answerRequest(this.options.log, id, request).then(
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

  private dispatchControl(id: number, request: ControlRequest): void {
    switch (request.op) {
      case 'ping':
        this.send((w) => writePong(w, id));
        return;
      case 'credit':
        this.pumps.get(id)?.addCredit(request.events);
        return;
      case 'unsubscribe':
        this.pumps.get(id)?.stop();
        return;
      case 'hello':
        throw new ProtocolError('HELLO after the handshake');
      // Raft traffic belongs on a peer connection: refused here, after the same scope check.
      case 'raft':
        deliverRaft(this.principal, undefined, request.messages, this.options.log);
        return;
      case 'snapshot':
        deliverRaft(this.principal, undefined, [request.frame], this.options.log);
        return;
    }
  }

  /**
   * The appends of one read, handed to the log in one call: each is still decided on its own
   * and answered on its own, but they share one promise and one staged entry in the log
   * instead of a handful each (pipelined single-event appends are mostly this overhead).
   */
  private runAppends(): void {
    const queue = this.appendQueue;
    this.appendQueue = [];
    const requests = queue.map(({ request }) => {
      const { stream, expected, events, ack, resent, claims } = request;
      return { parts: [{ stream, expected, events, claims }], ack, resent };
    });
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
            const { position, index, count } = outcome.parts[0]!;
            this.send((w) => writeAppendOk(w, id, position, index, count, true));
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

  private subscribe(id: number, request: SubscribeRequest | ReadAndSubscribeRequest): void {
    const { limits } = this.options;
    if (this.pumps.has(id)) throw new ProtocolError(`subscription id ${id} is already in use on this connection`);
    if (this.pumps.size >= limits.maxSubscriptions) {
      const open = this.pumps.size;
      const message = `this connection already has ${open} subscriptions, the limit is ${limits.maxSubscriptions}`;
      this.answerError(id, request.op, new LimitExceededError(message));
      return;
    }
    if (request.op === 'subscribe') this.subscribeToLog(id, request);
    else this.readAndSubscribe(id, request);
  }

  /** A subscription to the log (filtered or not); an unfiltered one catches up from the stored bytes. */
  private subscribeToLog(id: number, request: SubscribeRequest): void {
    const { log } = this.options;
    const { from, filter, transient, minPosition } = request;
    let subscription: NodeSubscription | undefined;
    let raw: RawCatchUp | undefined;
    try {
      if (filter === undefined && from !== 'end') {
        // The whole log from a position: catch up from the stored bytes, then go live.
        raw = rawCatchUp(log, from, transient);
      } else {
        const options: SubscribeOptions = { from, transient };
        if (filter !== undefined) options.filter = filter;
        if (minPosition !== undefined) options.minPosition = minPosition;
        subscription = log.subscribe(options);
      }
    } catch (error) {
      this.answerError(id, request.op, error);
      return;
    }
    this.openPump(id, request, subscription, raw).start();
  }

  /** A stream's history up to a cut, then its new events live, with nothing missed or repeated between. */
  private readAndSubscribe(id: number, request: ReadAndSubscribeRequest): void {
    this.options.log.readAndSubscribe(request.stream).then(
      ({ count, history, live }) => {
        if (this.output.closed || this.draining) {
          live.close();
          return;
        }
        const pump = this.openPump(id, request, live as NodeSubscription);
        sendHistory((answer) => this.send(answer), id, history);
        this.send((w) => writeCut(w, id, count));
        pump.start();
      },
      (error) => this.answerError(id, request.op, error),
    );
  }

  private openPump(
    id: number,
    request: SubscribeRequest | ReadAndSubscribeRequest,
    subscription: NodeSubscription | undefined,
    raw?: RawCatchUp,
  ): SubscriptionPump {
    const { metrics } = this.options;
    const transport = this.wire.transport;
    const pump = new SubscriptionPump(
      id,
      subscription,
      request.credit,
      this.pumpOutput,
      (ended) => {
        if (this.pumps.get(ended.id) === ended) this.pumps.delete(ended.id);
        metrics.subscriptionClosed(transport);
      },
      raw,
    );
    this.pumps.set(id, pump);
    metrics.subscriptionOpened(transport);
    metrics.request(request.op, transport, 'ok');
    return pump;
  }

  private readonly pumpOutput: PumpOutput = {
    send: (write: Answer) => this.send(write),
    congested: () => this.wire.bufferedBytes + this.output.pendingBytes > this.options.limits.maxBufferedBytes,
    drained: () => new Promise<void>((resolve) => this.drainWaiters.push(resolve)),
  };

  private answerError(id: number, operation: string, error: unknown): void {
    const known = error instanceof OrdoError ? error : internalError(error);
    const ordo = withLeaderUrl(known, operation, this.options.peerUrls);
    if (!(error instanceof OrdoError)) this.options.logger.error({ err: error, operation }, 'request failed');
    this.send((w) => writeError(w, id, ordo));
    this.options.metrics.request(operation, this.wire.transport, ordo.code);
  }

  private settled(): void {
    this.inFlightCount--;
    if (this.reading.paused && this.inFlightCount <= this.options.limits.maxInFlight / 2) this.reading.resume();
    if (this.inFlightCount === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private send(write: Answer): void {
    this.output.send(write);
  }
}

function isControl(request: Request): request is ControlRequest {
  return CONTROL_OPS.has(request.op);
}

function internalError(error: unknown): OrdoError {
  return new OrdoError('UNAVAILABLE', `internal error: ${(error as Error)?.message ?? String(error)}`);
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
  [FrameType.SET_METADATA]: 'setStreamMetadata',
  [FrameType.DELETE_STREAM]: 'deleteStream',
  [FrameType.ERASE_STREAM]: 'erase',
  [FrameType.GET_METADATA]: 'getStreamMetadata',
};

function operationOf(type: number): string {
  return OPERATIONS[type] ?? 'unknown';
}
