import { connect as connectTcp, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { PeerTransport, SnapshotFrame } from '../node/index.js';
import { ByteWriter } from '../protocol/bytes.js';
import { PROTOCOL_VERSION } from '../protocol/constants.js';
import { writeHello, writeRaft, writeSnapshotFrame } from '../protocol/requests.js';
import type { Message, NodeId } from '../raft/index.js';
import { PEER_CLIENT_PREFIX } from './peer-session.js';

/** Where a peer's binary protocol listens. */
export interface PeerAddress {
  host: string;
  port: number;
}

/** Reconnect backoff to a peer that is down, ms: Raft resends, so nothing is queued meanwhile. */
const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 1_000;
/** Bytes queued to one peer before messages to it are dropped (Raft resends what matters). */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * Raft messages to the other nodes over the binary protocol: one outgoing TCP connection per
 * peer (HELLO as `peer:<our id>` with the cluster token), one RAFT frame per Ready per peer,
 * Nagle off. Each node answers over its own connection, so a connection carries one direction.
 * A peer that is down costs nothing but reconnect attempts: its messages are dropped, and Raft
 * retries by itself (heartbeats, probes), as etcd's transport does.
 */
export class TcpPeerTransport implements PeerTransport {
  private readonly peers = new Map<NodeId, PeerLink>();
  /** Where each peer learned from the membership is (`host:port`); peers given at start are not here. */
  private readonly learned = new Map<NodeId, string>();
  private closed = false;
  /** Told when a peer cannot be reached, so the leader stops streaming to it (etcd's ReportUnreachable). */
  onUnreachable: ((id: NodeId) => void) | undefined;
  /** Told when the membership names a peer this transport did not know, or moves one it learned. */
  onPeerLearned: ((id: NodeId, address: PeerAddress) => void) | undefined;

  /** `addresses`: the peers given at start (`--peers`); they win over what the membership says. */
  constructor(
    private readonly self: NodeId,
    private readonly addresses: Readonly<Record<NodeId, PeerAddress>>,
    private readonly token: string,
    private readonly logger: Logger,
  ) {
    for (const [id, address] of Object.entries(addresses)) if (id !== self) this.link(id, address);
  }

  /**
   * The membership in force names where its members are: connect to the new ones (and follow a
   * learned member that moved). A peer given at start keeps its given address: a node may
   * reach a peer some other way (a proxy, another network) than the address the peer named.
   */
  learnAddresses(addresses: Readonly<Record<NodeId, string>>): void {
    if (this.closed) return;
    for (const [id, text] of Object.entries(addresses)) {
      if (id === this.self || this.addresses[id] !== undefined || this.learned.get(id) === text) continue;
      const address = parsePeerAddress(text);
      if (!address) {
        this.logger.warn({ peer: id, address: text }, 'membership names an address that is not host:port');
        continue;
      }
      this.peers.get(id)?.close();
      this.learned.set(id, text);
      this.link(id, address);
      this.logger.info({ peer: id, address: text }, 'peer address learned from the membership');
      this.onPeerLearned?.(id, address);
    }
  }

  /** The peers given at start, this node included, as `host:port`. */
  knownAddresses(): Readonly<Record<NodeId, string>> {
    return Object.fromEntries(Object.entries(this.addresses).map(([id, a]) => [id, formatPeerAddress(a)]));
  }

  private link(id: NodeId, address: PeerAddress): void {
    this.peers.set(id, new PeerLink(this.self, id, address, this.token, this.logger, () => this.onUnreachable?.(id)));
  }

  send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [id, list] of byPeer) {
      const link = this.peers.get(id);
      // No address for it (yet): Raft must not wait for an answer to what never left.
      if (link) link.send(list);
      else this.onUnreachable?.(id);
    }
  }

  sendSnapshotFrame(frame: SnapshotFrame): void {
    this.peers.get(frame.to)?.sendSnapshotFrame(frame);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.peers.values()) link.close();
  }
}

/** `host:port` (an IPv6 host in brackets) → its parts; undefined if it is not one. */
export function parsePeerAddress(text: string): PeerAddress | undefined {
  const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

export function formatPeerAddress({ host, port }: PeerAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

class PeerLink {
  private socket: Socket | undefined;
  private connected = false;
  private closed = false;
  private delay = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | undefined;
  private readonly writer = new ByteWriter();

  constructor(
    private readonly self: NodeId,
    private readonly id: NodeId,
    private readonly address: PeerAddress,
    private readonly token: string,
    private readonly logger: Logger,
    private readonly unreachable: () => void,
  ) {
    this.connect();
  }

  send(messages: Message[]): void {
    if (!this.connected || !this.socket) {
      this.unreachable();
      return;
    }
    if (this.socket.writableLength > MAX_BUFFERED_BYTES) return;
    writeRaft(this.writer, messages);
    this.socket.write(this.writer.take());
  }

  /**
   * One chunk of a snapshot transfer (dropped like a Raft message
   * if the peer is away: the pull times out and starts over).
   */
  sendSnapshotFrame(frame: SnapshotFrame): void {
    if (!this.connected || !this.socket || this.socket.writableLength > MAX_BUFFERED_BYTES) return;
    writeSnapshotFrame(this.writer, frame);
    this.socket.write(this.writer.take());
  }

  private connect(): void {
    if (this.closed) return;
    const socket = connectTcp({ host: this.address.host, port: this.address.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      writeHello(this.writer, 0, PROTOCOL_VERSION, `${PEER_CLIENT_PREFIX}${this.self}`, this.token);
      socket.write(this.writer.take());
      this.connected = true;
      this.delay = RECONNECT_MIN_MS;
      this.logger.debug({ peer: this.id }, 'peer connected');
    });
    // The peer answers only the handshake (and an error if it refuses us): nothing to read.
    socket.on('data', () => undefined);
    socket.on('error', (error) => this.logger.debug({ peer: this.id, err: error.message }, 'peer connection error'));
    socket.on('close', () => {
      const was = this.connected;
      this.connected = false;
      this.socket = undefined;
      if (was) this.unreachable();
      if (this.closed) return;
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.timer.unref();
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    });
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
  }
}
