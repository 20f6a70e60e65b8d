import type { Logger } from 'pino';
import type { OpenOptions } from '../node/index.js';
import { TcpPeerTransport } from './peer-transport.js';
import { hostInUrl } from './urls.js';

/**
 * Run as one node of a Raft cluster: `peers` maps node ids (this one included) to the
 * host:port of their binary protocol, where the nodes also talk to each other. Only a new
 * cluster needs them all: members added later name their address in the membership change,
 * and every node learns the addresses from the membership it applies. A node joining a
 * cluster (`voters: []`) needs itself and one member. `token` is sent to the peers (an admin
 * token when they use an auth file).
 */
export interface ServerClusterOptions {
  id: string;
  peers: Record<string, { host: string; port: number }>;
  token?: string;
  tickMs?: number;
  voters?: string[];
  windowEntries?: number;
  /** The URL a NOT_LEADER answer sends clients to, per node (default: ordo://<its peer address>). */
  advertise?: Record<string, string>;
}

export interface ClusterSetup {
  /** Carries Raft messages to the peers; already connecting to them. */
  transport: TcpPeerTransport;
  /** Each node's client URL, to point clients at the leader. */
  peerUrls: Record<string, string>;
  /** The log's options with its cluster part filled in. */
  logOptions: OpenOptions;
}

/** The transport to the peers, their client URLs, and the log's cluster options (which log role changes). */
export function setUpCluster(
  cluster: ServerClusterOptions,
  logOptions: OpenOptions | undefined,
  secure: boolean,
  logger: Logger,
): ClusterSetup {
  const { id, peers, token } = cluster;
  const transport = new TcpPeerTransport(id, peers, token ?? '', logger);
  const scheme = secure ? 'ordos' : 'ordo';
  const urlOf = (peer: string, { host, port }: { host: string; port: number }) =>
    cluster.advertise?.[peer] ?? `${scheme}://${hostInUrl(host)}:${port}`;
  const peerUrls = Object.fromEntries(Object.entries(peers).map(([peer, address]) => [peer, urlOf(peer, address)]));
  // A member added with its address after this node started: clients are sent there too.
  transport.onPeerLearned = (peer, address) => {
    peerUrls[peer] = urlOf(peer, address);
  };
  const clusterOptions: NonNullable<OpenOptions['cluster']> = {
    id,
    peers: cluster.voters ?? Object.keys(peers),
    transport,
    onRoleChange: (status) => {
      logger.info({ node: id, role: status.role, term: status.term, leader: status.leader || undefined }, 'raft role');
    },
    onSnapshot: (event) => {
      const fields = { node: id, ...event };
      if (event.kind === 'failed') logger.warn(fields, 'snapshot transfer given up (it is offered again)');
      else if (event.kind === 'offered') logger.info(fields, 'snapshot offered to %s', event.peer);
      else logger.info(fields, 'snapshot from %s installed', event.peer);
    },
  };
  if (cluster.tickMs !== undefined) clusterOptions.tickMs = cluster.tickMs;
  if (cluster.windowEntries !== undefined) clusterOptions.windowEntries = cluster.windowEntries;
  return { transport, peerUrls, logOptions: { ...logOptions, cluster: clusterOptions } };
}
