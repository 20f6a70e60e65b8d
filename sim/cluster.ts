import { decideAppend, streamCount, positionOf, type AppendIntent } from '../src/engine/index.js';
import type { Expected } from '../src/types/errors.js';
import {
  ProposalDroppedError,
  decodeConfigEntry,
  seededRandom,
  type ConfigChange,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type UnsafeRules,
} from '../src/raft/index.js';
import { Checker, Violation } from './checker.js';
import { decodeBatch, encodeBatch } from './entry-codec.js';
import {
  BASE_DELAY_MS,
  DEFAULT_FAULTS,
  HEAL_BOUND_MS,
  PARTITIONED_READ_INTERVAL_MS,
  STABLE_BOUND_MS,
  TICK_MS,
  type FaultRates,
} from './faults.js';
import { SimReads } from './reads.js';
import { SimNode, decodeSnapshotData } from './sim-node.js';

export interface SimOptions {
  seed: number;
  /** Milliseconds of virtual time with faults on (one step each). */
  steps: number;
  /** Voters at the start: 3 or 5 (default: chosen by the seed). Five nodes always exist. */
  voters?: number | undefined;
  faults?: Partial<FaultRates>;
  /**
   * Test-only broken rules: those of RaftOptions.unsafe, given to every node, and
   * `unmarkedTailLoss`: a node whose disk lost durable entries restarts without the
   * recovering mark, so it votes as if it had never acknowledged them.
   */
  unsafe?: (UnsafeRules & { unmarkedTailLoss?: boolean }) | undefined;
  /** Asynchronous storage writes on every node (default: chosen by the seed). */
  asyncWrites?: boolean;
}

export interface SimResult {
  seed: number;
  violation: Error | undefined;
  /** Every fault and notable event, with its virtual time: printed on failure. */
  schedule: string[];
  stats: SimCounts & { failed: number; healedInMs: number };
}

/** What one run counts, and what a run of many seeds adds up. */
export interface SimCounts {
  acked: number;
  elections: number;
  crashes: number;
  tailLosses: number;
  partitions: number;
  configChanges: number;
  /** Of those, the changes of several voters (through a joint configuration). */
  jointChanges: number;
  snapshots: number;
  reads: number;
}

/** The counters of SimCounts, for summing runs. */
export const SIM_COUNTS: ReadonlyArray<keyof SimCounts> = [
  'acked',
  'elections',
  'crashes',
  'tailLosses',
  'partitions',
  'configChanges',
  'jointChanges',
  'snapshots',
  'reads',
];

interface ClientOp {
  readonly id: number;
  readonly stream: string;
  readonly expected: Expected;
  readonly ids: string[];
  status: 'new' | 'inflight' | 'unknown' | 'dup-wait' | 'acked' | 'failed';
  node?: NodeId;
  /** When the current attempt was sent: past the client's deadline its outcome is unknown. */
  sentAt?: number;
  dupPosition?: number;
}

interface InFlight {
  at: number;
  seq: number;
  m: Message;
}

const NODE_IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];
/** A client gives up waiting for an answer after this long and retries (same ids) later. */
const CLIENT_DEADLINE_MS = 400;
const STREAMS = ['a', 'b', 'c', 'd', 'e'];
/** Healed, each member is asked this many reads at once. */
const HEALED_READS_PER_NODE = 3;

/**
 * The hard state as it may be persisted alongside `entries`: a commit index beyond the entries
 * already on disk before them would, after a crash that lost them, make a divergent tail look
 * committed. (The node's Replicator applies the same rule.)
 */
function durableHardState(hard: HardState, entries: readonly { index: number }[], lastOnDisk: number): HardState {
  const durable = entries.length > 0 ? Math.min(entries[0]!.index - 1, lastOnDisk) : lastOnDisk;
  return { ...hard, commit: Math.min(hard.commit, durable) };
}

/** N nodes of the real raft/ and engine/ code on one virtual clock, faults from one seed. */
export function runSimulation(options: SimOptions): SimResult {
  const cluster = new SimCluster(options);
  try {
    cluster.run();
  } catch (error) {
    cluster.violation = error instanceof Error ? error : new Error(String(error));
  }
  return { seed: options.seed, violation: cluster.violation, schedule: cluster.schedule, stats: cluster.stats };
}

class SimCluster {
  readonly random;
  readonly faults: FaultRates;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new Checker();
  readonly schedule: string[] = [];
  readonly stats: SimResult['stats'] = {
    acked: 0,
    failed: 0,
    elections: 0,
    crashes: 0,
    tailLosses: 0,
    partitions: 0,
    configChanges: 0,
    jointChanges: 0,
    snapshots: 0,
    reads: 0,
    healedInMs: 0,
  };
  violation: Error | undefined;
  private now = 0;
  private seq = 0;
  private network: InFlight[] = [];
  private cut = new Set<string>();
  private healAt = 0;
  private ops: ClientOp[] = [];
  private readonly crashOnWrite = new Set<NodeId>();
  /** Nodes whose disk loses its last durable entries before they restart. */
  private readonly loseTailOnRestart = new Set<NodeId>();
  private readonly lastCommit = new Map<NodeId, number>();
  private readonly reads = new SimReads();
  /** A leader that hands over: cut it off once its timeout-now leaves (see transfer()). */
  private cutOffOnHandover: NodeId | undefined;
  /** Nodes whose last Ready said they lead (to log when they stop). */
  private readonly leading = new Set<NodeId>();
  private faultsOn = true;

  constructor(private readonly options: SimOptions) {
    this.random = seededRandom(options.seed);
    this.faults = { ...DEFAULT_FAULTS, ...options.faults };
    const voters = options.voters ?? (this.random.int(2) === 0 ? 3 : 5);
    // Half the clusters of 3 voters start with a learner (a read replica) among the nodes left.
    const learners = NODE_IDS.slice(voters, voters < NODE_IDS.length ? voters + this.random.int(2) : voters);
    const config = { voters: NODE_IDS.slice(0, voters), learners };
    const members = [...config.voters, ...learners];
    // Half the seeds run every node with asynchronous storage writes (the real node's mode).
    const asyncWrites = options.asyncWrites ?? this.random.int(2) === 0;
    NODE_IDS.forEach((id, i) => {
      const nodeRandom = seededRandom(options.seed * 31 + i + 1);
      const node = new SimNode(
        id,
        members.includes(id) ? config : { voters: [], learners: [] },
        nodeRandom,
        options.unsafe,
        this.random.int(TICK_MS),
        asyncWrites,
      );
      this.nodes.set(id, node);
      node.start();
    });
    this.log(
      `start: ${voters} voters ${config.voters.join(',')}` +
        `${learners.length > 0 ? `, learners ${learners.join(',')}` : ''}` +
        `${asyncWrites ? ', asynchronous storage writes' : ''}`,
    );
  }

  private log(what: string): void {
    this.schedule.push(`t=${this.now} ${what}`);
  }

  private chance(p: number): boolean {
    return p > 0 && this.random.float() < p;
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.random.int(items.length)];
  }

  run(): void {
    for (let t = 0; t < this.options.steps; t++) this.step();
    this.heal();
  }

  private step(): void {
    this.now++;
    if (this.faultsOn) this.injectFaults();
    this.deliver();
    for (const node of this.nodes.values()) this.completeWrites(node);
    for (const node of this.nodes.values()) {
      if (node.raw && (this.now + node.tickPhase) % TICK_MS === 0) {
        node.raw.tick();
        this.drive(node);
      }
    }
    if (this.faultsOn && this.chance(this.faults.append)) this.submit(this.newOp());
    if (this.chance(0.05)) {
      const unknown = this.ops.filter((op) => op.status === 'unknown');
      const op = this.pick(unknown);
      if (op) this.submit(op);
    }
    for (const op of this.ops) {
      if ((op.status === 'inflight' || op.status === 'dup-wait') && this.now - op.sentAt! > CLIENT_DEADLINE_MS)
        op.status = 'unknown';
    }
    this.checkDuplicateWaits();
    if (this.chance(this.faults.read)) this.read();
    if (this.cut.size > 0 && this.now % PARTITIONED_READ_INTERVAL_MS === 0) this.readAtLeaders();
  }

  // ---- faults ----

  private injectFaults(): void {
    for (const node of this.nodes.values()) {
      if (!node.raw && node.downUntil <= this.now) this.restart(node);
    }
    if (this.healAt > 0 && this.healAt <= this.now) {
      this.cut.clear();
      this.healAt = 0;
      this.log('partition healed');
    }
    if (this.chance(this.faults.crash)) {
      const leader = this.leader();
      const up = [...this.nodes.values()].filter((n) => n.raw);
      const victim = leader && this.chance(0.5) ? leader : this.pick(up);
      if (victim) {
        const downFor = 20 + this.random.int(400);
        if (this.chance(this.faults.tornWrite)) {
          this.crashOnWrite.add(victim.id);
          victim.downUntil = this.now + downFor;
          this.log(`${victim.id} will crash during its next write`);
        } else {
          this.crash(victim, `crash ${victim.id} for ${downFor} ms`);
          victim.downUntil = this.now + downFor;
        }
      }
    }
    if (this.chance(this.faults.loseTail)) this.crashLosingTail();
    if (this.healAt === 0 && this.chance(this.faults.partition)) this.partition();
    if (this.chance(this.faults.configChange)) this.changeMembership();
    if (this.chance(this.faults.transfer)) this.transfer();
    if (this.chance(this.faults.compact)) {
      const node = this.pick([...this.nodes.values()].filter((n) => n.raw));
      if (node) this.compact(node);
    }
  }

  /**
   * The leader hands over to another voter. Half the time it is cut off, with its learners,
   * from every voter the moment it tells the transferee to campaign: that one is elected at
   * once, while the old leader, which never hears of it, leads on until its quorum check fails.
   */
  private transfer(): void {
    const leader = this.leader();
    if (!leader) return;
    const to = this.pick(leader.raw!.status().config.voters.filter((id) => id !== leader.id));
    if (!to) return;
    this.log(`transfer leadership ${leader.id} → ${to}`);
    this.cutOffOnHandover = this.chance(0.5) ? leader.id : undefined;
    leader.raw!.transferLeadership(to);
    this.drive(leader);
  }

  /** `m` left its sender: if it is the handover `transfer()` waits for, cut the sender off. */
  private maybeCutOffOnHandover(m: Message): void {
    if (m.type !== 'timeout-now' || m.from !== this.cutOffOnHandover) return;
    this.cutOffOnHandover = undefined;
    const sender = this.nodes.get(m.from)!;
    if (!this.faultsOn || this.healAt !== 0 || !sender.raw) return;
    this.stats.partitions++;
    this.split(new Set([sender.id, ...sender.raw.status().config.learners]));
    this.healAt = this.now + 50 + this.random.int(500);
  }

  private crash(node: SimNode, why: string): void {
    this.log(why);
    this.stats.crashes++;
    for (const op of this.ops)
      if (op.node === node.id && (op.status === 'inflight' || op.status === 'dup-wait')) op.status = 'unknown';
    node.crash();
    this.leading.delete(node.id);
    this.crashOnWrite.delete(node.id);
  }

  /** Crashes a node whose disk will have lost its last durable entries when it restarts. */
  private crashLosingTail(): void {
    const recovering = [...this.nodes.values()].some(
      (n) => n.disk.storage.hardState.recovering !== undefined || this.loseTailOnRestart.has(n.id),
    );
    if (recovering) return;
    const victim = this.pick([...this.nodes.values()].filter((n) => n.raw && n.disk.storage.lastIndex() > 0));
    if (!victim) return;
    const downFor = 20 + this.random.int(400);
    this.crash(victim, `crash ${victim.id} for ${downFor} ms; its disk will lose its last entries`);
    victim.downUntil = this.now + downFor;
    this.loseTailOnRestart.add(victim.id);
  }

  private restart(node: SimNode): void {
    if (this.loseTailOnRestart.delete(node.id)) {
      const storage = node.disk.storage;
      const keep = Math.max(storage.firstIndex() - 1, storage.lastIndex() - 1 - this.random.int(5));
      const marked = this.options.unsafe?.unmarkedTailLoss !== true;
      node.disk.loseTail(keep, marked);
      this.stats.tailLosses++;
      this.log(`${node.id} lost the entries after ${keep} from its disk${marked ? ', marked recovering' : ''}`);
    }
    this.log(`restart ${node.id}`);
    node.start();
    this.lastCommit.set(node.id, node.raw!.committed);
  }

  private partition(): void {
    const ids = NODE_IDS;
    const leader = this.leader();
    const learners = leader?.raw?.status().config.learners ?? [];
    // With learners, a fourth kind: the leader and its learners cut off from every other voter.
    const kind = this.random.int(learners.length > 0 ? 4 : 3);
    this.stats.partitions++;
    if (kind === 0 || !leader) {
      this.split(new Set(ids.filter(() => this.chance(0.5))));
    } else if (kind === 3) {
      this.split(new Set([leader.id, ...learners]));
    } else if (kind === 1) {
      const a = this.pick(ids)!;
      const b = this.pick(ids.filter((id) => id !== a))!;
      this.cut.add(`${a}>${b}`);
      this.log(`one-way cut ${a} → ${b}`);
    } else {
      for (const other of ids) {
        if (other === leader.id) continue;
        this.cut.add(`${leader.id}>${other}`);
        this.cut.add(`${other}>${leader.id}`);
      }
      this.log(`isolate leader ${leader.id}`);
    }
    this.healAt = this.now + 50 + this.random.int(500);
  }

  /** Cuts every link between `side` and the other nodes. */
  private split(side: ReadonlySet<NodeId>): void {
    const ids = NODE_IDS;
    for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
    this.log(`partition {${[...side].join(',')}} | {${ids.filter((id) => !side.has(id)).join(',')}}`);
  }

  /**
   * The leader just entered a joint configuration: cut it and a majority of the incoming voters
   * off from the rest, who may not have applied the joint entry yet. Only a majority of both
   * sets commits, so nothing must commit now that an old-config leader on the other side lacks.
   */
  private splitJoint(leader: NodeId, incoming: readonly NodeId[], outgoing: readonly NodeId[]): void {
    // The leader and the new voters, plus just enough of the others for a majority of the
    // incoming set: the old voters left outside may hold a majority of their own.
    const side = new Set([leader, ...incoming.filter((id) => !outgoing.includes(id))]);
    const majority = Math.floor(incoming.length / 2) + 1;
    for (const id of incoming) {
      if (incoming.filter((v) => side.has(v)).length >= majority) break;
      side.add(id);
    }
    const ids = NODE_IDS;
    for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cut.add(`${a}>${b}`);
    this.stats.partitions++;
    this.log(`partition {${[...side].join(',')}} | rest, as ${leader} enters a joint configuration`);
    this.healAt = this.now + 50 + this.random.int(500);
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (!leader) return;
    const raw = leader.raw!;
    const status = raw.status();
    const { voters, learners } = status.config;
    const members = new Set([...voters, ...learners]);
    const outsiders = NODE_IDS.filter((id) => !members.has(id));
    const ready = learners.filter((id) => (status.progress[id]?.match ?? 0) >= status.lastIndex - 2);
    const removable = () => (this.chance(0.3) ? leader.id : this.pick(voters));
    const choices: Array<() => ConfigChange[] | undefined> = [
      () => {
        if (voters.length <= 3) return undefined;
        const node = removable();
        return node ? [{ type: 'remove', node }] : undefined;
      },
      () => {
        const node = this.pick(outsiders);
        return node ? [{ type: 'add-learner', node }] : undefined;
      },
      () => {
        const node = this.pick(ready);
        return node ? [{ type: 'add-voter', node }] : undefined;
      },
      // Several voters at once: through a joint configuration.
      () => {
        // Replace a voter (the leader, some of the time) by a caught-up learner or a new node.
        const node = removable();
        const added = this.pick(ready) ?? this.pick(outsiders);
        return node && added
          ? [
              { type: 'remove', node },
              { type: 'add-voter', node: added },
            ]
          : undefined;
      },
      () => {
        // 3 voters -> 5, or 5 -> 3 (the leader among those removed, some of the time).
        const candidates = [...ready, ...outsiders];
        if (voters.length === 3 && candidates.length >= 2) {
          const [a, b] = this.shuffled(candidates);
          return [
            { type: 'add-voter', node: a! },
            { type: 'add-voter', node: b! },
          ];
        }
        if (voters.length !== 5) return undefined;
        const [a, b] = this.shuffled(voters.filter((id) => id !== leader.id));
        return [
          { type: 'remove', node: this.chance(0.3) ? leader.id : a! },
          { type: 'remove', node: b! },
        ];
      },
    ];
    const changes = this.pick(choices)!();
    if (!changes) return;
    const what = changes.map((c) => `${c.type} ${c.node}`).join(', ');
    try {
      raw.proposeConfigChange(changes);
      this.stats.configChanges++;
      if (changes.length > 1) this.stats.jointChanges++;
      this.log(`propose ${what} at ${leader.id}`);
    } catch (error) {
      if (!(error instanceof ProposalDroppedError)) throw error;
      if (error.reason === 'joint-config' && !status.config.votersOutgoing)
        throw new Violation('membership', `${leader.id} refused ${what} as joint, its config is not`);
    }
    this.drive(leader);
  }

  private shuffled<T>(items: readonly T[]): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy;
  }

  private compact(node: SimNode): void {
    const storage = node.disk.storage;
    // At `applied` exactly: the membership now is the membership as of that entry.
    const upTo = node.applied;
    if (upTo - storage.firstIndex() < 8) return;
    const chain = node.disk.chainAt(upTo);
    if (chain === undefined) throw new Error(`${node.id}: no chain hash at ${upTo}`);
    node.disk.compact(upTo, node.raw!.config(), node.snapshotData(upTo, chain));
    this.log(`compact ${node.id} to ${upTo}`);
  }

  // ---- network ----

  private send(m: Message): void {
    if (!this.nodes.has(m.to) || m.to === m.from) return;
    if (this.cut.has(`${m.from}>${m.to}`)) {
      this.lost(m);
      return;
    }
    if (this.faultsOn && this.chance(this.faults.drop)) {
      this.lost(m);
      return;
    }
    const copies = this.faultsOn && this.chance(this.faults.duplicate) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let delay = 1 + this.random.int(BASE_DELAY_MS);
      if (this.faultsOn && this.chance(this.faults.delay)) delay += this.random.int(this.faults.maxDelayMs);
      this.network.push({ at: this.now + delay, seq: this.seq++, m });
    }
    this.maybeCutOffOnHandover(m);
  }

  private lost(m: Message): void {
    if (m.type !== 'snapshot') return;
    // The transport knows a snapshot did not get through, and says so (etcd's ReportSnapshot).
    const sender = this.nodes.get(m.from);
    if (sender?.raw) {
      sender.raw.reportSnapshot(m.to, false);
      this.drive(sender);
    }
  }

  private deliver(): void {
    const due = this.network.filter((f) => f.at <= this.now);
    if (due.length === 0) return;
    this.network = this.network.filter((f) => f.at > this.now);
    // Same-millisecond messages arrive in a random order.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [due[i], due[j]] = [due[j]!, due[i]!];
    }
    for (const { m } of due) {
      const node = this.nodes.get(m.to)!;
      if (!node.raw) {
        this.lost(m);
        continue;
      }
      node.raw.step(m);
      this.drive(node);
      if (m.type === 'snapshot') {
        this.stats.snapshots++;
        const sender = this.nodes.get(m.from);
        if (sender?.raw) {
          sender.raw.reportSnapshot(m.to, true);
          this.drive(sender);
        }
      }
    }
  }

  // ---- one node's Ready ----

  private drive(node: SimNode): void {
    for (let rounds = 0; node.raw?.hasReady(); rounds++) {
      if (rounds > 1000) throw new Violation('liveness', `${node.id}: ready() does not settle`);
      const raw = node.raw;
      const removedLeader = raw.role === 'leader' && !raw.isVoter(node.id);
      const ready = raw.ready();
      // 1. persist (a snapshot is written after every write before it)
      if (ready.snapshot && node.asyncWrites) this.completeWrites(node, true);
      if (!node.raw) return;
      if (ready.snapshot) {
        const data = decodeSnapshotData(ready.snapshot.data);
        node.disk.applySnapshot(ready.snapshot, data.chain);
        node.restoreEngine(ready.snapshot);
        this.log(`${node.id} installs snapshot at ${ready.snapshot.index}`);
      }
      if (node.asyncWrites) {
        this.queueWrite(node, ready);
      } else if (this.crashOnWrite.has(node.id) && ready.entries.length > 0) {
        const kept = this.random.int(ready.entries.length);
        node.disk.append(ready.entries.slice(0, kept));
        // The hard state may reach the disk first; its commit index then covers only entries
        // already durable before this write (as the real node persists it): never the tail
        // this write was replacing.
        if (ready.hardState && this.chance(0.5))
          node.disk.setHardState(durableHardState(ready.hardState, ready.entries, node.disk.storage.lastIndex()));
        this.crash(node, `${node.id} crashed mid-write: ${kept} of ${ready.entries.length} entries reached the disk`);
        return;
      } else {
        const { truncatedFrom } = node.disk.append(ready.entries);
        if (truncatedFrom !== undefined && truncatedFrom <= node.engineIndex) node.truncateEngine(truncatedFrom);
        for (const entry of ready.entries) {
          if (entry.index > node.engineIndex) node.applyToEngine(entry);
          this.checker.onPersisted(node.id, entry, node.disk.chainAt(entry.index)!);
        }
        if (ready.hardState)
          node.disk.setHardState(durableHardState(ready.hardState, ready.entries, node.disk.storage.lastIndex()));
        // 2. send
        for (const m of ready.messages) this.send(m);
      }
      // 3. apply
      if (ready.snapshot) {
        node.applied = ready.snapshot.index;
        node.appliedPosition = decodeSnapshotData(ready.snapshot.data).nextPosition;
      }
      let inForce = raw.config();
      for (const entry of ready.committedEntries) {
        if (entry.kind === 'config') {
          const next = decodeConfigEntry(entry.data);
          this.checker.onConfigApplied(node.id, entry.index, inForce, next);
          inForce = next.config;
          if (
            this.faultsOn &&
            raw.role === 'leader' &&
            next.config.votersOutgoing &&
            this.healAt === 0 &&
            this.chance(0.5)
          )
            this.splitJoint(node.id, next.config.voters, next.config.votersOutgoing);
        }
        this.checker.onApplied(
          node.id,
          entry,
          node.applied,
          node.disk.chainAt(entry.index),
          node.positionAt.get(entry.index)!,
        );
        node.applied = entry.index;
        node.appliedPosition = node.positionAt.get(entry.index + 1)!;
        this.answer(node, entry);
      }
      for (const read of ready.readStates) this.reads.answered(node.id, read);
      raw.advance(ready);
      // 4. check what changed
      // A leader removed from the voters leads on until they know it, but appends nothing new.
      if (ready.softState?.role === 'leader' && !raw.isVoter(node.id))
        throw new Violation('membership', `${node.id} won term ${raw.term} without being a voter`);
      if (removedLeader && ready.entries.some((entry) => entry.term === raw.term))
        throw new Violation('membership', `${node.id} appended in term ${raw.term} without being a voter`);
      if (ready.softState?.role === 'leader') {
        this.stats.elections++;
        this.log(`${node.id} leads term ${raw.term}`);
        this.checker.onLeader(node.id, raw.term);
        this.checker.checkLeaderCompleteness(node.id, raw.term, (i) => raw.termAt(i), raw.firstIndex() - 1);
      } else if (ready.softState && this.leading.has(node.id)) {
        this.log(`${node.id} no longer leads (term ${raw.term})`);
      }
      if (ready.softState?.role === 'leader') this.leading.add(node.id);
      else if (ready.softState) this.leading.delete(node.id);
      const commit = raw.committed;
      if (commit > (this.lastCommit.get(node.id) ?? 0)) {
        this.lastCommit.set(node.id, commit);
        // With asynchronous writes the committed entry may still be on its way to disk (the disk
        // may even hold an older entry there, about to be replaced): compare prefixes only once
        // the disk has the entry Raft has.
        const onDisk = node.disk.storage.term(commit) === raw.termAt(commit);
        this.checker.onCommitted(node.id, commit, onDisk ? node.disk.chainAt(commit) : undefined, raw.termAt(commit));
      }
    }
  }

  /**
   * Asynchronous storage writes: the entries go into the engine now (the node's log has them),
   * the write completes later (in order), and only then are its messages that depend on it
   * sent and the write reported with persisted(). A leader's appends go out at once.
   */
  private queueWrite(node: SimNode, ready: Ready): void {
    for (const entry of ready.entries) {
      const known = node.engineTerm.get(entry.index);
      if (entry.index <= node.engineIndex && known !== entry.term) node.truncateEngine(entry.index);
      if (entry.index > node.engineIndex) node.applyToEngine(entry);
    }
    const leaderTypes = ready.messages.every(
      (m) =>
        m.type === 'append' || m.type === 'heartbeat' || m.type === 'timeout-now' || m.type === 'read-index-response',
    );
    const now = node.raw!.role === 'leader' && leaderTypes ? ready.messages : [];
    for (const m of now) this.send(m);
    const previous = node.pendingWrites[node.pendingWrites.length - 1]?.at ?? this.now;
    node.pendingWrites.push({
      at: Math.max(previous, this.now + this.random.int(4)),
      entries: ready.entries,
      hardState: ready.hardState,
      messages: now.length > 0 ? [] : ready.messages,
    });
  }

  /** Completes the writes that are due (`all`: every one, from inside drive()), in order; a crash loses the rest. */
  private completeWrites(node: SimNode, all = false): void {
    while (node.raw && node.pendingWrites.length > 0 && (all || node.pendingWrites[0]!.at <= this.now)) {
      const write = node.pendingWrites.shift()!;
      if (this.crashOnWrite.has(node.id) && write.entries.length > 0) {
        const kept = this.random.int(write.entries.length);
        node.disk.append(write.entries.slice(0, kept));
        if (write.hardState && this.chance(0.5))
          node.disk.setHardState(durableHardState(write.hardState, write.entries, node.disk.storage.lastIndex()));
        this.crash(
          node,
          `${node.id} crashed mid-write: ${kept} of ${write.entries.length} entries` +
            ` reached the disk (${node.pendingWrites.length} later writes lost)`,
        );
        return;
      }
      node.disk.append(write.entries);
      for (const entry of write.entries) this.checker.onPersisted(node.id, entry, node.disk.chainAt(entry.index)!);
      if (write.hardState)
        node.disk.setHardState(durableHardState(write.hardState, write.entries, node.disk.storage.lastIndex()));
      for (const m of write.messages) this.send(m);
      if (write.entries.length > 0) {
        const last = write.entries[write.entries.length - 1]!;
        node.raw.persisted(last.index, last.term);
      }
      if (!all) this.drive(node);
    }
  }

  /** The leader applied an entry: answer the client whose proposal it is, if it is still the same entry. */
  private answer(node: SimNode, entry: { index: number; term: number; data: Uint8Array }): void {
    const pending = node.pending.get(entry.index);
    if (!pending) return;
    node.pending.delete(entry.index);
    const op = this.ops[pending.op]!;
    if (op.status !== 'inflight' || op.node !== node.id) return;
    if (entry.term !== pending.term) {
      op.status = 'unknown'; // another leader's entry took the place: not written
      return;
    }
    const batch = decodeBatch(entry.data)!;
    this.checker.onAcked(op.ids, batch.position);
    op.status = 'acked';
    this.stats.acked++;
  }

  // ---- clients ----

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.nodes.values()) {
      if (node.raw?.role === 'leader' && (!best || node.raw.term > best.raw!.term)) best = node;
    }
    return best;
  }

  private newOp(): ClientOp {
    const stream = this.pick(STREAMS)!;
    const leader = this.leader();
    const count = leader ? streamCount(leader.engine, stream) : 0;
    const roll = this.random.int(10);
    const expected: Expected = roll < 4 ? 'any' : roll < 8 ? count : roll < 9 ? 'empty' : count + 1;
    const n = 1 + this.random.int(3);
    const ids = Array.from({ length: n }, () => this.uuid());
    const op: ClientOp = { id: this.ops.length, stream, expected, ids, status: 'new' };
    this.ops.push(op);
    return op;
  }

  private uuid(): string {
    const hex = (): string => this.random.int(0x1_0000).toString(16).padStart(4, '0');
    const variant = (8 + this.random.int(4)).toString(16);
    return `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-${variant}${hex().slice(1)}-${hex()}${hex()}${hex()}`;
  }

  private submit(op: ClientOp): void {
    // A client finds some node that believes it leads (possibly a stale one behind a partition).
    const candidates = [...this.nodes.values()].filter((n) => n.raw?.role === 'leader');
    const node = this.pick(candidates);
    if (!node) {
      op.status = op.status === 'new' ? 'unknown' : op.status;
      return;
    }
    const raw = node.raw!;
    op.sentAt = this.now;
    if (node.engineIndex !== raw.lastIndex())
      throw new Error(`${node.id}: engine at ${node.engineIndex} behind log ${raw.lastIndex()}`);
    const intent: AppendIntent = {
      stream: op.stream,
      expected: op.expected,
      ids: op.ids.map((id) => ({ id, idGenerated: false })),
    };
    const decision = decideAppend(node.engine, [intent]);
    op.node = node.id;
    switch (decision.kind) {
      case 'write': {
        const planned = decision.appends[0]!;
        const data = encodeBatch({
          position: planned.position,
          timestamp: this.now,
          events: op.ids.map((id, k) => ({ stream: op.stream, index: planned.index + k, id })),
        });
        try {
          const { index, term } = raw.propose(data);
          node.applyToEngine({ index, term, kind: 'normal', data });
          node.pending.set(index, { op: op.id, index, term });
          op.status = 'inflight';
        } catch (error) {
          if (!(error instanceof ProposalDroppedError)) throw error;
          op.status = 'unknown';
        }
        this.drive(node);
        return;
      }
      case 'duplicate':
        op.status = 'dup-wait';
        op.dupPosition = decision.appends[0]!.position;
        return;
      case 'conflict': {
        // A retry whose first attempt was written: the ids stored at the asked index tell.
        const index = decision.retryOf?.index;
        if (index !== undefined) {
          const first = positionOf(node.engine, op.stream, index);
          if (first !== undefined && op.ids.every((id, k) => node.idAt.get(first + k) === id)) {
            op.status = 'dup-wait';
            op.dupPosition = first;
            return;
          }
        }
        op.status = 'failed';
        this.stats.failed++;
        return;
      }
      case 'id-reused':
        op.status = 'failed';
        this.stats.failed++;
        return;
    }
  }

  /** A retry found its events in the leader's log: answer once that node has applied them, if still there. */
  private checkDuplicateWaits(): void {
    for (const op of this.ops) {
      if (op.status !== 'dup-wait') continue;
      const node = this.nodes.get(op.node!)!;
      const last = op.dupPosition! + op.ids.length - 1;
      if (!node.raw || node.appliedPosition <= last) continue;
      if (op.ids.every((id, k) => node.idAt.get(op.dupPosition! + k) === id)) {
        this.checker.onAcked(op.ids, op.dupPosition!);
        op.status = 'acked';
        this.stats.acked++;
      } else {
        op.status = 'unknown';
      }
    }
  }

  /** A client reads from any node (a follower forwards the read to the leader it knows). */
  private read(): void {
    const node = this.pick([...this.nodes.values()].filter((n) => n.raw));
    if (node) this.readAt(node);
  }

  /**
   * While the network is cut, clients keep reading from every node that believes it leads: a
   * deposed leader behind the partition must not confirm a read point without a voter quorum.
   */
  private readAtLeaders(): void {
    for (const node of this.nodes.values()) if (node.raw?.role === 'leader') this.readAt(node);
  }

  private readAt(node: SimNode): number {
    const context = this.reads.ask(node.id, this.checker.maxCommitted);
    this.stats.reads++;
    node.raw!.readIndex(context);
    this.drive(node);
    return context;
  }

  // ---- healing and convergence ----

  private heal(): void {
    this.faultsOn = false;
    this.cut.clear();
    this.healAt = 0;
    this.crashOnWrite.clear();
    this.loseTailOnRestart.clear();
    for (const node of this.nodes.values()) if (!node.raw) this.restart(node);
    this.log('faults off, everything healed');
    const healedAt = this.now;
    const final = this.newOp();
    const acked = (): boolean => {
      if (final.status === 'unknown' || final.status === 'new') this.submit(final);
      if (final.status === 'failed') {
        final.status = 'unknown';
        (final as { expected: Expected }).expected = 'any';
      }
      return final.status === 'acked';
    };
    this.stepUntil(
      HEAL_BOUND_MS,
      () => acked() && this.converged(),
      () => `no convergence within ${HEAL_BOUND_MS} ms after healing (final append ${final.status})`,
    );
    this.stats.healedInMs = this.now - healedAt;
    this.checkAckedEverywhere();
    this.followerLosesTail();
    this.readAtEveryMember();
  }

  /** Steps until `done`; a liveness violation if that takes longer than `boundMs`. */
  private stepUntil(boundMs: number, done: () => boolean, failure: () => string): void {
    const from = this.now;
    while (this.now - from < boundMs) {
      this.step();
      if (done()) return;
    }
    throw new Violation('liveness', `${failure()}; ${this.describe()}`);
  }

  /**
   * Healed, under a stable leader, a follower's disk loses its last entries (it restarts
   * marked recovering): the leader must notice and send them again, and the cluster converge.
   */
  private followerLosesTail(): void {
    const leader = this.leader()!;
    const { voters, learners } = leader.raw!.status().config;
    const followers = [...voters, ...learners].filter((id) => id !== leader.id).map((id) => this.nodes.get(id)!);
    const victim = this.pick(followers.filter((n) => n.disk.storage.lastIndex() >= n.disk.storage.firstIndex()));
    if (!victim) return;
    this.crash(victim, `crash ${victim.id}; its disk will lose its last entries`);
    this.loseTailOnRestart.add(victim.id);
    this.restart(victim);
    this.stepUntil(
      STABLE_BOUND_MS,
      () => this.converged(),
      () => `${victim.id} lost entries and was not sent them again within ${STABLE_BOUND_MS} ms by ${leader.id}`,
    );
  }

  /**
   * Healed, every member is asked a few reads at once, each node numbering its own (so their
   * numbers meet at the leader, and a follower's reads are forwarded): every one is answered.
   */
  private readAtEveryMember(): void {
    const leader = this.leader()!.raw!;
    const { voters, learners } = leader.status().config;
    let asked: Array<{ node: NodeId; context: number }> = [];
    for (const id of [...voters, ...learners]) {
      const node = this.nodes.get(id)!;
      for (let k = 0; k < HEALED_READS_PER_NODE; k++) asked.push({ node: id, context: this.readAt(node) });
    }
    const unanswered = () => asked.filter(({ node, context }) => this.reads.unanswered(node, context));
    let term = leader.term;
    const answered = (): boolean => {
      const now = this.leader()?.raw?.term;
      if (now !== undefined && now !== term) {
        // A transfer begun before healing may complete now: the new leader never had the old
        // one's pending reads, so clients ask again (as they would on NOT_LEADER).
        term = now;
        asked = unanswered().map(({ node }) => ({ node, context: this.readAt(this.nodes.get(node)!) }));
      }
      return unanswered().length === 0;
    };
    this.stepUntil(
      STABLE_BOUND_MS,
      answered,
      () =>
        `reads unanswered ${STABLE_BOUND_MS} ms after they were asked, healed: ` +
        unanswered()
          .map(({ node, context }) => `${node} read ${context}`)
          .join(', '),
    );
  }

  private converged(): boolean {
    const leader = this.leader();
    if (!leader) return false;
    const raw = leader.raw!;
    const last = raw.lastIndex();
    if (raw.committed !== last || raw.termAt(last) !== raw.term) return false;
    const config = raw.status().config;
    // A joint configuration is always left: healed, the leader must be out of it.
    if (config.votersOutgoing) return false;
    const chain = leader.disk.chainAt(last);
    for (const id of [...config.voters, ...config.learners]) {
      const node = this.nodes.get(id)!;
      const log = node.raw!;
      if (
        log.lastIndex() !== last ||
        node.disk.chainAt(last) !== chain ||
        log.committed !== last ||
        node.applied !== last
      )
        return false;
    }
    return true;
  }

  private checkAckedEverywhere(): void {
    const config = this.leader()!.raw!.status().config;
    for (const id of [...config.voters, ...config.learners]) {
      const node = this.nodes.get(id)!;
      for (const [eventId, position] of this.checker.acked) {
        if (node.idAt.get(position) !== eventId && position >= node.positionAt.get(node.disk.storage.firstIndex())!) {
          throw new Violation('acknowledged write', `${id} lacks acked event ${eventId} at position ${position}`);
        }
      }
    }
  }

  private describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (!n.raw) return `${n.id}: down`;
        const s = n.raw.status();
        return (
          `${n.id}: ${s.role} term ${s.term} last ${s.lastIndex} commit ${s.commit} applied ${n.applied}` +
          ` voters ${s.config.voters.join(',')} learners ${s.config.learners.join(',')}`
        );
      })
      .join('; ');
  }
}
