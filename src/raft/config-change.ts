import { ConfigChangeError } from './errors.js';
import type { ConfigState, NodeId } from './types.js';

/**
 * A membership change: add a learner (it receives the log but does not vote), add a voter (or
 * promote a learner once it has caught up), or remove a member. Adding names where the peers
 * reach the node (`host:port`), which every member learns when it applies the entry.
 *
 * One entry may carry several changes. If they change at most one voter it is a simple change
 * (Raft dissertation §4.1): it takes effect on each node when the entry is applied, and the
 * leader allows one unapplied change at a time, only after it committed an entry of its own
 * term. If they change more voters the entry enters a joint configuration (§4.3): the old and
 * the new voter sets must both agree on every election and commit, and once the joint entry is
 * applied the leader appends a second entry, with no changes, that leaves it (etcd-io/raft's
 * ConfChangeV2 with auto-leave).
 */
export type ConfigChange =
  | { readonly type: 'add-learner'; readonly node: NodeId; readonly address?: string }
  | { readonly type: 'add-voter'; readonly node: NodeId; readonly address?: string }
  | { readonly type: 'remove'; readonly node: NodeId };

/**
 * A config entry holds its changes and the whole membership after them: a node that joins with
 * an empty log learns the full membership (addresses included) from the first config entry it
 * applies, and no node has to know how the cluster was bootstrapped. `changes` is empty on the
 * entry that leaves a joint configuration.
 */
export interface ConfigEntry {
  readonly changes: readonly ConfigChange[];
  readonly config: ConfigState;
}

const CHANGE_TYPES: ReadonlySet<string> = new Set(['add-learner', 'add-voter', 'remove']);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfigEntry(entry: ConfigEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry));
}

/** Reads a config entry; one written before entries carried several changes (`{ change, config }`) too. */
export function decodeConfigEntry(data: Uint8Array): ConfigEntry {
  const text = decoder.decode(data);
  const value = JSON.parse(text) as { changes?: unknown; change?: unknown; config?: ConfigState } | null;
  const changes = Array.isArray(value?.changes) ? value.changes : value?.change !== undefined ? [value.change] : [];
  const config = value?.config;
  const validChange = (change: unknown): change is ConfigChange =>
    typeof change === 'object' &&
    change !== null &&
    typeof (change as ConfigChange).node === 'string' &&
    CHANGE_TYPES.has((change as ConfigChange).type);
  if (
    !changes.every(validChange) ||
    typeof config !== 'object' ||
    config === null ||
    !Array.isArray(config.voters) ||
    !Array.isArray(config.learners) ||
    (config.votersOutgoing !== undefined && !Array.isArray(config.votersOutgoing)) ||
    (config.addresses !== undefined && (typeof config.addresses !== 'object' || config.addresses === null))
  ) {
    throw new Error(`not a config entry: ${text}`);
  }
  return { changes, config };
}

export function isJoint(config: ConfigState): boolean {
  return (config.votersOutgoing?.length ?? 0) > 0;
}

/** A single change (kept for callers that make one at a time). */
export function applyChange(config: ConfigState, change: ConfigChange): ConfigState {
  return applyChanges(config, [change]);
}

/**
 * The membership after `changes`: joint (old voters outgoing) when they change more than one
 * voter, else the new membership itself. Throws ConfigChangeError for a change that cannot
 * be made: none at all, a node named twice, one made while joint, or no voter left.
 * `knownAddresses` fills in members' addresses the config does not hold yet.
 */
export function applyChanges(
  config: ConfigState,
  changes: readonly ConfigChange[],
  knownAddresses: Readonly<Record<NodeId, string>> = {},
): ConfigState {
  if (changes.length === 0) throw new ConfigChangeError(changes, 'at least one change');
  if (isJoint(config)) throw new ConfigChangeError(changes, 'a change made after the joint configuration is left');
  const named = new Set(changes.map((change) => change.node));
  if (named.size !== changes.length || named.has(''))
    throw new ConfigChangeError(changes, 'each node named once, by a non-empty id');
  const voters = new Set(config.voters);
  const learners = new Set(config.learners);
  // Members bootstrapped from a list of peers have no address in the config yet: the proposer
  // fills in those it knows, so a node that joins learns where every member is.
  const addresses: Record<NodeId, string> = { ...knownAddresses, ...config.addresses };
  for (const change of changes) {
    if (change.type !== 'remove' && change.address !== undefined) addresses[change.node] = change.address;
    switch (change.type) {
      case 'add-learner':
        if (!voters.has(change.node)) learners.add(change.node);
        break;
      case 'add-voter':
        learners.delete(change.node);
        voters.add(change.node);
        break;
      case 'remove':
        voters.delete(change.node);
        learners.delete(change.node);
        break;
    }
  }
  if (voters.size === 0) throw new ConfigChangeError(changes, 'at least one voter left');
  const changedVoters =
    [...voters].filter((id) => !config.voters.includes(id)).length +
    config.voters.filter((id) => !voters.has(id)).length;
  const next = { voters: [...voters].sort(), learners: [...learners].sort() };
  const joint = changedVoters > 1 ? { ...next, votersOutgoing: [...config.voters].sort() } : next;
  return withAddresses(joint, addresses);
}

/** The configuration a joint one leaves to: the incoming voters and the learners. */
export function leaveJoint(config: ConfigState): ConfigState {
  return withAddresses({ voters: config.voters, learners: config.learners }, config.addresses ?? {});
}

/** Keeps the addresses of members only; none at all when no member has one. */
function withAddresses(config: ConfigState, addresses: Readonly<Record<NodeId, string>>): ConfigState {
  const members = new Set([...config.voters, ...config.learners, ...(config.votersOutgoing ?? [])]);
  const kept = Object.entries(addresses)
    .filter(([id]) => members.has(id))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return kept.length > 0 ? { ...config, addresses: Object.fromEntries(kept) } : config;
}
