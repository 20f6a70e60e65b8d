import type { ConfigState, NodeId } from './types.js';

/**
 * A membership change, one server at a time (Raft dissertation §4.1): add a learner, promote a
 * learner to voter (once it has caught up), or remove a member. It takes effect on each node
 * when the entry is applied; the leader allows one unapplied change at a time and only after
 * it committed an entry of its own term, which is what makes single-server changes safe.
 */
export type ConfigChange =
  | { readonly type: 'add-learner'; readonly node: NodeId }
  | { readonly type: 'add-voter'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

/**
 * A config entry holds the change and the whole membership after it: a node that joins with an
 * empty log learns the full membership from the first config entry it applies, and no node has
 * to know how the cluster was bootstrapped.
 */
export interface ConfigEntry {
  readonly change: ConfigChange;
  readonly config: ConfigState;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfigEntry(entry: ConfigEntry): Uint8Array {
  return encoder.encode(JSON.stringify(entry));
}

export function decodeConfigEntry(data: Uint8Array): ConfigEntry {
  const text = decoder.decode(data);
  const value = JSON.parse(text) as ConfigEntry;
  const change = value?.change;
  const config = value?.config;
  if (
    typeof change !== 'object' ||
    change === null ||
    typeof change.node !== 'string' ||
    !['add-learner', 'add-voter', 'remove'].includes(change.type) ||
    typeof config !== 'object' ||
    config === null ||
    !Array.isArray(config.voters) ||
    !Array.isArray(config.learners)
  ) {
    throw new Error(`not a config entry: ${text}`);
  }
  return value;
}

export function applyChange(config: ConfigState, change: ConfigChange): ConfigState {
  const voters = new Set(config.voters);
  const learners = new Set(config.learners);
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
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}
