import { PROTOCOL_VERSION, FrameType } from '../protocol/constants.js';
import { FrameDecoder, type Frame } from '../protocol/frame.js';
import { readRequest } from '../protocol/requests.js';
import { writeError, writeWelcome } from '../protocol/responses.js';
import { OrdoError, ProtocolError, TimeoutError } from '../types/errors.js';
import type { Principal } from './auth.js';
import { BinarySession } from './binary-session.js';
import type { ConnectionSession } from './connection-session.js';
import { FrameOutput } from './frame-output.js';
import { PEER_CLIENT_PREFIX, PeerSession } from './peer-session.js';
import { ReadGate } from './read-gate.js';
import type { SessionOptions } from './session-options.js';
import type { Wire } from './wire.js';

/**
 * The binary protocol on one connection: frames in, the HELLO handshake, then a session chosen
 * by who said hello (a client, or another node of the cluster), every answer written in one
 * event-loop turn coalesced into one write, and backpressure both ways.
 */
export class BinaryConnection {
  private readonly decoder: FrameDecoder;
  private readonly output: FrameOutput;
  private readonly reading: ReadGate;
  private readonly handshakeTimer: NodeJS.Timeout;
  private session: ConnectionSession | undefined;
  private draining = false;

  constructor(
    private readonly wire: Wire,
    private readonly options: SessionOptions,
  ) {
    const { limits } = options;
    this.decoder = new FrameDecoder(limits.maxFrameBytes, (frame) => this.onFrame(frame));
    this.output = new FrameOutput(wire, limits.maxBufferedBytes);
    this.reading = new ReadGate(wire, () => this.canResumeReading());
    this.output.onCongested = () => this.onCongested();
    this.handshakeTimer = setTimeout(() => {
      if (this.session !== undefined || this.output.closed) return;
      // TIMEOUT, not PROTOCOL_ERROR: a HELLO held up on the way (a slow or cut network) is no
      // fault of the client's, which reconnects.
      this.fail(new TimeoutError('the handshake (HELLO)', limits.handshakeTimeoutMs));
    }, limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  /** Bytes from the client. A protocol violation closes this connection only. */
  receive(chunk: Uint8Array): void {
    if (this.output.closed) return;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.session?.discardQueued();
      this.fail(error);
      return;
    }
    this.session?.chunkDone();
  }

  /** The wire closed (client gone): stop every subscription, drop pending answers. */
  closed(): void {
    clearTimeout(this.handshakeTimer);
    this.output.close();
    this.session?.closed();
  }

  /** Graceful shutdown: no new requests, end subscriptions, wait for in-flight answers, close. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.output.closed) return;
    // New frames are dropped from now on (onFrame); the socket keeps being read, so the
    // client's close is seen and the connection ends promptly.
    this.draining = true;
    this.wire.resume();
    const idle = this.session?.drain(timeoutMs);
    if (idle) await idle;
    this.end();
  }

  private onFrame(frame: Frame): void {
    if (this.draining || this.output.closed) return;
    if (this.session === undefined) this.handshake(frame);
    else this.session.onFrame(frame);
  }

  private handshake(frame: Frame): void {
    clearTimeout(this.handshakeTimer);
    if (frame.type !== FrameType.HELLO) {
      throw new ProtocolError(`the first frame must be HELLO, got type ${frame.type}`);
    }
    const hello = readRequest(frame, this.options.limits);
    if (hello.op !== 'hello') throw new ProtocolError('the first frame must be HELLO');
    if (hello.version !== PROTOCOL_VERSION) {
      const supported = `this server speaks version ${PROTOCOL_VERSION}`;
      throw new ProtocolError(`protocol version ${hello.version} is not supported; ${supported}`);
    }
    const { auth, logger, limits, serverName } = this.options;
    const where = { remote: this.wire.remote, transport: this.wire.transport, client: hello.client };
    let principal: Principal;
    try {
      principal = auth.authenticate(hello.token || undefined);
    } catch (error) {
      this.output.send((w) => writeError(w, frame.requestId, error as OrdoError));
      logger.warn(where, 'refused: %s', (error as Error).message);
      this.end();
      return;
    }
    this.session = this.sessionFor(hello.client, principal);
    const { maxFrameBytes, maxInFlight } = limits;
    this.output.send((w) => writeWelcome(w, frame.requestId, PROTOCOL_VERSION, serverName, maxFrameBytes, maxInFlight));
    logger.debug({ ...where, principal: principal.name }, 'client connected');
  }

  /** A peer session for a node of the cluster (`peer:<id>`), a client session for anyone else. */
  private sessionFor(client: string, principal: Principal): ConnectionSession {
    const { log, limits } = this.options;
    if (client.startsWith(PEER_CLIENT_PREFIX)) {
      return new PeerSession(client.slice(PEER_CLIENT_PREFIX.length), principal, log, limits);
    }
    return new BinarySession({ wire: this.wire, output: this.output, reading: this.reading }, principal, this.options);
  }

  /** The client does not read its answers: stop reading its requests until it catches up. */
  private onCongested(): void {
    this.reading.pause();
    this.wire.onceDrained(() => {
      this.reading.resume();
      this.session?.drained();
    });
  }

  private canResumeReading(): boolean {
    const { maxInFlight, maxBufferedBytes } = this.options.limits;
    if (this.draining) return false;
    return (this.session?.inFlight ?? 0) < maxInFlight && this.wire.bufferedBytes <= maxBufferedBytes;
  }

  private fail(error: unknown): void {
    // An Ordo error keeps its code (PERMISSION_DENIED for a peer frame without the admin scope…).
    const protocolError = error instanceof OrdoError ? error : readingError(error);
    const where = { remote: this.wire.remote, transport: this.wire.transport };
    this.options.logger.warn(where, 'closing the connection: %s', protocolError.message);
    this.output.send((w) => writeError(w, 0, protocolError));
    this.output.flush();
    this.output.close();
    this.session?.stop();
    this.wire.end();
  }

  /** Sends what is buffered, then closes. */
  private end(): void {
    this.output.flush();
    this.output.close();
    this.wire.end();
  }
}

function readingError(error: unknown): ProtocolError {
  return new ProtocolError(`internal error while reading a frame: ${(error as Error)?.message ?? String(error)}`);
}
