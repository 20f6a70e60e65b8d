import { checkHistory, checkLifecycles, type AppendOperation, type ReadOperation } from '../../check/index.js';
import { open, type OrdoNode } from '../../src/node/index.js';
import { SEGMENT_HEADER_BYTES } from '../../src/storage/segment-file.js';
import { CorruptLogError, PositionTrimmedError } from '../../src/types/errors.js';
import { seededRandom } from '../../src/raft/index.js';
import { brokenAnswers, brokenFileSystem, type BrokenRule } from './broken.js';
import { DEFAULT_FAULTS, DEFAULT_RATES, type FaultKind, type SimRates } from './faults.js';
import { fsyncedSegments, lostUnmarked, savedLogStart, tailCut, type FsyncedSegment } from './fsynced.js';
import { DISK_FAULT_KINDS, SimDisk, type DiskFaultKind } from './sim-fs.js';
import { SimNetwork } from './sim-network.js';
import { settle, VIRTUAL_EPOCH_MS, VirtualTime } from './virtual-time.js';
import { clientLoop, collect, Subscriber, type WholeLog, type WorkloadHost } from './workload.js';
import { LIFECYCLE_STREAMS } from './lifecycle-workload.js';

/** Where each node keeps its log on its own simulated disk. */
const DATA_DIR = '/data';
const RAFT_STATE_FILE = `${DATA_DIR}/raft-state`;
/** Where retention cut the log: a node that cannot read it cannot place its first segment. */
const LOG_START_FILE = `${DATA_DIR}/segments/log-start`;
/** Virtual ms per Raft tick (elections time out after 10–20 ticks). */
const TICK_MS = 10;
/**
 * Small segments, a small Raft window and frequent checkpoints: segment rolls, snapshot
 * installs and reopens from a checkpoint that covers recent appends happen in short runs.
 */
const SEGMENT_BYTES = 8 * 1024;
const WINDOW_ENTRIES = 16;
const CHECKPOINT_EVERY = 8;
/**
 * Whole-log retention, in the runs that have it: a log larger than a few segments drops its
 * oldest sealed ones, looked at often, so that a run meets dropped segments, checkpoints
 * installed in place of them, and readers that find their next position removed.
 */
const RETENTION_MAX_BYTES = SEGMENT_BYTES / 2;
const RETENTION_CHECK_MS = 50;
/** Salt of the generator that decides whether a run has retention (apart from the main one, which it leaves as it was). */
const RETENTION_SALT = 0x7e7e;
/** Background scavenging passes run often enough to meet crashes, truncations and snapshots. */
const SCAVENGE_INTERVAL_MS = 2_000;
/** Rounds of reading every node's log for damage after the heal (each repairs what it found). */
const DAMAGE_SWEEPS = 3;
const SCAVENGE_BYTES_PER_SECOND = 1024 * 1024;
/** After the faults stop: how long the cluster has to elect, commit, converge and feed its subscribers, virtual ms. */
export const HEAL_BOUND_MS = 10_000;
/** How often convergence is looked at while healing, virtual ms. */
const POLL_MS = 20;
/** Retention may move the nodes' first positions under the comparison of their logs this many times. */
const IDENTICAL_RETRIES = 3;
/** A run that is still going this long after its faults stopped is stuck, virtual ms. */
const HARD_LIMIT_MS = 60_000;

/** A node whose open failed on an injected disk error is started again this much later, virtual ms. */
const OPEN_RETRY_MS = 50;
/** A node that stopped on a storage failure exits (as `ordo serve` does); its supervisor restarts it this much later, virtual ms. */
const STOPPED_RESTART_MS = 100;

/** An error the simulated disk injected (EIO, ENOSPC), itself or as the cause of a typed one. */
function injectedDiskError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EIO' || code === 'ENOSPC' || code === 'DISK_FULL') return true;
  }
  return false;
}

export interface NodeSimOptions {
  seed: number;
  /** Nodes in the cluster, 3 or 5 (default: picked by the seed). */
  nodes?: 3 | 5 | undefined;
  /** Virtual ms of workload under faults. */
  faultMs?: number | undefined;
  clients?: number | undefined;
  faults?: ReadonlySet<FaultKind> | undefined;
  rates?: SimRates | undefined;
  /** A deliberately broken node, to prove the simulator catches it (see broken.ts). */
  broken?: BrokenRule | undefined;
  /** Which runs' nodes have whole-log retention (default: none). */
  retention?: RetentionShare | undefined;
}

/** Runs with whole-log retention: none, half of them (picked by the seed), or all. */
export type RetentionShare = 'off' | 'half' | 'all';
export const RETENTION_SHARES: readonly RetentionShare[] = ['off', 'half', 'all'];

export const DEFAULT_FAULT_MS = 600;

/** What one run counted: faults fired, and the workload's outcomes. */
export type NodeSimCounts = Record<string, number>;

export interface NodeSimResult {
  seed: number;
  nodes: number;
  violations: string[];
  /** Everything that happened, in order, with virtual times: same seed, same trace. */
  trace: string[];
  counts: NodeSimCounts;
}

interface Slot {
  id: string;
  disk: SimDisk;
  /** Timer owner of the process running now (0: none); a crash cancels its timers. */
  owner: number;
  log: OrdoNode | undefined;
  /** Subscriptions served by the process running now: closed when it dies. */
  subscriptions: Set<() => void>;
  /**
   * Open reported damage the node cannot repair alone (its raft-state): the operator keeps it
   * down for the rest of the run, to be replaced; the others must converge without it.
   */
  retired: boolean;
  /** The segments as the first power failure since the last open left them, checked at the next open. */
  fsynced: FsyncedSegment[] | undefined;
  /** Bits flipped on this disk since the node last opened (`file@offset/size`). */
  flipsSinceOpen: string[];
}

/** Runs one seed: opens the nodes, runs clients and the nemesis, heals, then checks everything. */
export async function runNodeSimulation(options: NodeSimOptions): Promise<NodeSimResult> {
  const sim = new NodeSim(options);
  return sim.run();
}

class NodeSim implements WorkloadHost {
  readonly time = new VirtualTime();
  readonly random;
  private readonly slots: Slot[] = [];
  private readonly network: SimNetwork;
  private readonly faults: ReadonlySet<FaultKind>;
  /** The disk kinds still striking (cleared at the heal). */
  private readonly diskFaults = new Set<DiskFaultKind>();
  private readonly rates: SimRates;
  private nextOwner = 1;
  private faulting = true;
  private readonly appends: AppendOperation[] = [];
  private readonly reads: ReadOperation[] = [];
  private readonly traceLines: string[] = [];
  private readonly violations: string[] = [];
  readonly counts: NodeSimCounts = {};
  private readonly idRandom;
  /**
   * Nodes a bit of whose disk flipped (or whose segment lost its tail, `lostTail`) this run. At
   * most a minority ever do: a flip that hits every copy of an entry a quorum acknowledged is a
   * loss no replication survives, and a flip found only when a read reaches it (a sealed
   * segment open does not scan) stays on the disk until then, so a node counts as damaged for
   * the rest of the run.
   */
  private readonly flipped = new Set<Slot>();
  /** Of those, the nodes whose raft-state or log start flipped (retired at their next open). */
  private readonly unrepairableFlipped = new Set<Slot>();
  private readonly retention: boolean;

  constructor(private readonly options: NodeSimOptions) {
    this.random = seededRandom(options.seed);
    this.idRandom = seededRandom(options.seed ^ 0x5eed);
    this.retention = retentionOn(options.retention ?? 'off', options.seed);
    if (this.retention) this.count('retentionRuns');
    this.faults = options.faults ?? DEFAULT_FAULTS;
    this.rates = options.rates ?? DEFAULT_RATES;
    for (const kind of DISK_FAULT_KINDS) if (this.faults.has(kind)) this.diskFaults.add(kind);
    this.network = new SimNetwork(this.time, this.random, this.rates.network, {
      drop: this.faults.has('drop'),
      duplicate: this.faults.has('duplicate'),
      delay: this.faults.has('delay'),
    });
    const n = options.nodes ?? (this.random.int(2) === 0 ? 3 : 5);
    for (let i = 1; i <= n; i++) {
      const slot: Slot = {
        id: `n${i}`,
        owner: 0,
        log: undefined,
        subscriptions: new Set(),
        retired: false,
        fsynced: undefined,
        flipsSinceOpen: [],
        disk: undefined as unknown as SimDisk,
      };
      slot.disk = new SimDisk(this.time, this.random, this.diskFaults, this.rates.disk, () => slot.owner);
      this.slots.push(slot);
    }
  }

  async run(): Promise<NodeSimResult> {
    let finished = false;
    const scenario = this.scenario().then(
      () => void (finished = true),
      (error: Error) => {
        this.violations.push(`simulator: ${error.stack ?? error.message}`);
        finished = true;
      },
    );
    const onRejection = (reason: unknown) =>
      this.violations.push(`unhandled rejection at ${this.time.now} ms: ${String((reason as Error)?.stack ?? reason)}`);
    process.on('unhandledRejection', onRejection);
    try {
      await settle();
      while (!finished) {
        if (this.time.now > HARD_LIMIT_MS) {
          this.violations.push(`stuck: the run did not finish in ${HARD_LIMIT_MS} virtual ms`);
          break;
        }
        if (!this.time.fireDue()) {
          this.violations.push('stuck: no timer left and the run is not finished');
          break;
        }
        await settle();
      }
      if (finished) await scenario;
    } finally {
      process.off('unhandledRejection', onRejection);
      for (const slot of this.slots) this.kill(slot);
    }
    this.collectCounts();
    return {
      seed: this.options.seed,
      nodes: this.slots.length,
      violations: this.violations,
      trace: this.traceLines,
      counts: this.counts,
    };
  }

  private async scenario(): Promise<void> {
    this.trace(
      `seed ${this.options.seed}: ${this.slots.length} nodes, faults ${[...this.faults].join(',')}` +
        (this.retention ? `, retention ${RETENTION_MAX_BYTES} B` : ''),
    );
    for (const slot of this.slots) this.start(slot);
    const faultMs = this.options.faultMs ?? DEFAULT_FAULT_MS;
    const ids = { next: 0 };
    const clients = Array.from({ length: this.options.clients ?? 3 }, (_, i) =>
      clientLoop(this, `c${i + 1}`, this.options.seed, ids),
    );
    const subscribers = [new Subscriber('sub1'), new Subscriber('sub2')];
    const subscribing = subscribers.map((s) => s.run(this, (node, close) => this.register(node, close)));
    await this.nemesis(faultMs);
    this.faulting = false;
    this.heal();
    await Promise.all(clients);
    await this.convergeRepaired();
    await this.check(subscribers);
    for (const s of subscribers) s.stop();
    await Promise.all(subscribing);
  }

  // ---- WorkloadHost ----

  node(preferred?: string): { id: string; log: OrdoNode } | undefined {
    const up = this.slots.filter((s) => s.log !== undefined);
    const chosen = up.find((s) => s.id === preferred) ?? up[up.length === 0 ? 0 : this.random.int(up.length)];
    return chosen ? { id: chosen.id, log: chosen.log! } : undefined;
  }

  running(): boolean {
    return this.faulting;
  }

  recordAppend(op: AppendOperation): void {
    this.appends.push(op);
  }

  recordRead(op: ReadOperation): void {
    this.reads.push(op);
  }

  trace(line: string): void {
    this.traceLines.push(`${String(this.time.now).padStart(6)} ${line}`);
  }

  count(what: string, by = 1): void {
    this.counts[what] = (this.counts[what] ?? 0) + by;
  }

  private register(node: string, close: () => void): () => void {
    const slot = this.slots.find((s) => s.id === node)!;
    slot.subscriptions.add(close);
    return () => slot.subscriptions.delete(close);
  }

  // ---- processes ----

  /** Starts a process of `slot` on its disk; it joins the network once open. */
  private start(slot: Slot): void {
    const owner = this.nextOwner++;
    slot.owner = owner;
    const alive = () => slot.owner === owner && slot.log !== undefined;
    const peers = this.slots.map((s) => s.id);
    const opening = open(DATA_DIR, {
      fsync: this.options.broken === 'ack-before-fsync' ? 'never' : 'always',
      segmentBytes: SEGMENT_BYTES,
      checkpointEvery: CHECKPOINT_EVERY,
      scavenge: { intervalMs: SCAVENGE_INTERVAL_MS, bytesPerSecond: SCAVENGE_BYTES_PER_SECOND },
      retention: this.retention ? { maxBytes: RETENTION_MAX_BYTES, checkIntervalMs: RETENTION_CHECK_MS } : undefined,
      fileSystem: brokenFileSystem(this.options.broken, slot.disk.mount()),
      environment: {
        clock: () => VIRTUAL_EPOCH_MS + this.time.now,
        monotonicNow: () => this.time.now,
        timers: this.time.timers(owner),
        random: this.random,
        randomFill: (target) => {
          for (let i = 0; i < target.length; i++) target[i] = this.idRandom.int(256);
        },
        newId: () => `transient-${this.idRandom.int(0x7fff_ffff)}`,
      },
      cluster: {
        id: slot.id,
        peers,
        tickMs: TICK_MS,
        windowEntries: WINDOW_ENTRIES,
        transport: this.network.transport(slot.id, alive),
        onRoleChange: (status) => {
          if (slot.owner === owner && status.role === 'leader') {
            this.count('elections');
            this.trace(`${slot.id} leads term ${status.term}`);
          }
        },
        onSnapshot: (event) => {
          if (slot.owner === owner && event.kind === 'installed') {
            this.count('snapshotsInstalled');
            if (event.checkpoint !== undefined) this.count('checkpointsInstalled');
            const from = event.checkpoint === undefined ? '' : ` from checkpoint @${event.checkpoint}`;
            this.trace(`${slot.id} installed snapshot at ${event.index}${from}`);
          }
        },
      },
    });
    opening.then(
      (opened) => {
        if (slot.owner !== owner) return; // crashed while opening: that process is gone
        const log = brokenAnswers(this.options.broken, opened);
        slot.log = log;
        log.onFsync = undefined;
        log.onStopped((error) => this.stopped(slot, owner, error));
        this.count('damageCuts', log.openReport.damageCuts.length);
        this.checkKeptFsynced(slot, log);
        this.network.attach(slot.id, (packet) => this.deliver(slot, log, packet));
        this.trace(
          `${slot.id} open (${log.openReport.replayedEvents} replayed, ${log.openReport.truncatedBytes} B cut)`,
        );
      },
      (error: Error) => {
        if (slot.owner !== owner) return;
        this.trace(`${slot.id} failed to open: ${error.message}`);
        this.kill(slot);
        // A disk that fails a write or an fdatasync may fail an open too: that is the right
        // answer (the operator restarts it once the disk behaves), anything else is a bug.
        if (injectedDiskError(error)) {
          this.count('openFailed');
          this.time.after(OPEN_RETRY_MS, () => this.restart(slot));
        } else if (this.reportedUnrepairable(slot, error)) {
          this.count('retired');
          slot.retired = true;
          this.trace(`${slot.id} retired: the operator replaces it`);
        } else this.violations.push(`${slot.id} failed to reopen at ${this.time.now} ms: ${error.message}`);
      },
    );
  }

  /**
   * A node that reopens without bytes its segments had fdatasynced lost entries it may have
   * acknowledged: it must have marked itself recovering, or its vote counts for entries it
   * no longer holds (docs/reliability.md: the one exception is in `FsyncedSegment`).
   */
  private checkKeptFsynced(slot: Slot, log: OrdoNode): void {
    const before = slot.fsynced;
    const flips = slot.flipsSinceOpen;
    slot.fsynced = undefined;
    slot.flipsSinceOpen = [];
    if (before === undefined || log.raftStatus().recovering !== undefined) return;
    const files = slot.disk.durableFiles();
    const lost = lostUnmarked(
      before,
      (path) => slot.disk.sizeOf(path),
      flips,
      (dir) => savedLogStart(files, dir),
    );
    if (lost) this.violations.push(`${slot.id} reopened at ${this.time.now} ms, not marked recovering, but ${lost}`);
  }

  /** The node stopped on a storage failure: its process exits, and the operator restarts it on the same disk. */
  private stopped(slot: Slot, owner: number, error: Error): void {
    if (slot.owner !== owner) return;
    this.count('stopped');
    this.trace(`${slot.id} stopped (${error.message.slice(0, 60)}…)`);
    // It may reopen recovering (what a failed write left is unknown): it counts toward the
    // minority of damaged nodes, so no other disk's damage leaves recovering nodes a majority.
    this.flipped.add(slot);
    this.kill(slot);
    this.time.after(STOPPED_RESTART_MS, () => this.restart(slot));
  }

  /**
   * A flipped raft-state fails the open with a CorruptLogError naming it: its term and vote
   * cannot be rebuilt by the node alone (forgetting a vote could grant a second one in a term).
   * So does a flipped log start: where retention cut the log, and the term Raft matches the
   * first entry kept against, are written nowhere else. That is the right answer, on a node
   * whose disk did flip; any other damage must be repaired.
   */
  private reportedUnrepairable(slot: Slot, error: unknown): boolean {
    return (
      this.unrepairableFlipped.has(slot) &&
      error instanceof CorruptLogError &&
      (error.file === RAFT_STATE_FILE || error.file === LOG_START_FILE)
    );
  }

  private deliver(slot: Slot, log: OrdoNode, packet: Parameters<OrdoNode['deliver']>[0]): void {
    try {
      log.deliver(packet);
    } catch (error) {
      this.violations.push(`${slot.id} threw on a ${packet.type} from ${packet.from}: ${(error as Error).message}`);
    }
  }

  /** Ends the running process of `slot` (nothing it started completes), and cuts the power of its disk. */
  private kill(slot: Slot): void {
    if (slot.log) this.count('retentionDroppedSegments', slot.log.metrics().retentionDroppedSegments);
    if (slot.owner !== 0) this.time.cancelOwner(slot.owner);
    slot.owner = 0;
    slot.log = undefined;
    this.network.attach(slot.id, undefined);
    for (const close of [...slot.subscriptions]) {
      try {
        close();
      } catch {
        // The process is gone: its subscription ends either way.
      }
    }
    slot.subscriptions.clear();
  }

  private crash(slot: Slot): void {
    this.kill(slot);
    slot.fsynced ??= fsyncedSegments(slot.disk.durableFiles(), RAFT_STATE_FILE);
    const minority = Math.floor((this.slots.length - 1) / 2);
    // A flipped raft-state or log start takes its node out for good: beside it, no other node's
    // disk flips (with another node recovering and one stopped by a disk error, five nodes lost quorum).
    const others = [...this.flipped].filter((s) => s !== slot);
    const mayFlip = others.length < minority && !others.some((s) => this.unrepairableFlipped.has(s));
    const flip = slot.disk.crash(mayFlip, others.length > 0);
    if (slot.disk.lostWritesAtLastCrash) this.flipped.add(slot);
    if (mayFlip) this.loseTail(slot);
    if (flip === undefined) return;
    this.flipped.add(slot);
    slot.flipsSinceOpen.push(flip);
    if (flip.startsWith(`${RAFT_STATE_FILE}@`) || flip.startsWith(`${LOG_START_FILE}@`))
      this.unrepairableFlipped.add(slot);
    this.count(`bitflip:${flipRegion(flip)}`);
    this.trace(`bitflip ${slot.id} ${flip}`);
  }

  /** The `lostTail` fault, at a crash the nemesis lets damage this disk (see faults.ts). */
  private loseTail(slot: Slot): void {
    if (!this.faults.has('lostTail') || this.random.float() >= this.rates.disk.lostTail) return;
    const cut = tailCut(slot.disk.durableFiles(), RAFT_STATE_FILE, this.random);
    if (cut === undefined) return;
    slot.disk.loseTail(cut.file, cut.length);
    this.flipped.add(slot);
    this.count('lostTail');
    this.trace(`lost tail ${slot.id} ${cut.file} from ${cut.length}`);
  }

  // ---- the nemesis ----

  private async nemesis(faultMs: number): Promise<void> {
    const { nemesis } = this.rates;
    const end = this.time.now + faultMs;
    const actions = (['crash', 'partition', 'oneWay'] as const).filter((k) => this.faults.has(k));
    while (this.time.now < end) {
      await this.time.sleep(nemesis.minGapMs + this.random.int(nemesis.maxGapMs - nemesis.minGapMs));
      if (this.time.now >= end) break;
      const hold = nemesis.minHoldMs + this.random.int(nemesis.maxHoldMs - nemesis.minHoldMs);
      if (this.faults.has('powerLoss') && this.random.float() < nemesis.powerLossShare) {
        this.powerLoss(hold);
        continue;
      }
      const action = actions[actions.length === 0 ? 0 : this.random.int(actions.length)];
      if (action === 'crash') this.crashOne(hold);
      else if (action === 'partition') this.partition(hold);
      else if (action === 'oneWay') this.oneWay(hold);
    }
  }

  /** The leader half the time, else any node; it comes back after `hold` ms. */
  private victim(): Slot {
    const leader = this.slots.find((s) => s.log?.raftStatus().role === 'leader');
    return leader && this.random.int(2) === 0 ? leader : this.slots[this.random.int(this.slots.length)]!;
  }

  private crashOne(hold: number): void {
    const slot = this.victim();
    if (slot.owner === 0 && slot.log === undefined) return;
    this.count('crash');
    this.trace(`crash ${slot.id} for ${hold} ms`);
    this.crash(slot);
    this.time.after(hold, () => this.restart(slot));
  }

  private powerLoss(hold: number): void {
    this.count('powerLoss');
    this.trace(`power loss of every node for ${hold} ms`);
    for (const slot of this.slots) {
      this.crash(slot);
      this.time.after(hold, () => this.restart(slot));
    }
  }

  /**
   * Waits for convergence, restarting nodes that report damage; then reads every node's
   * committed log once, as the background scrub would in time, so that damage no read met yet
   * (a bit flipped in a sealed segment, which open does not scan) is reported and repaired
   * before the checks read it.
   */
  private async convergeRepaired(): Promise<void> {
    for (let sweep = 0; sweep <= DAMAGE_SWEEPS; sweep++) {
      const until = this.time.now + HEAL_BOUND_MS;
      while (this.time.now < until && !this.converged()) {
        this.restartDamaged();
        await this.time.sleep(POLL_MS);
      }
      if (!this.converged() || !(await this.foundDamage())) return;
      this.count('damageSweeps');
      this.restartDamaged();
    }
  }

  /** Reads each serving node's committed log; whether any read met damage (the node reports it). */
  private async foundDamage(): Promise<boolean> {
    let found = false;
    for (const slot of this.serving()) {
      const log = slot.log!;
      try {
        await committedBytes(log, log.firstPosition, log.committedPosition);
      } catch (error) {
        if (!(error instanceof CorruptLogError)) throw error;
        found = true;
      }
    }
    return found;
  }

  /**
   * The operator's part when a node reports damage that a read, the scrub or scavenging found
   * in a sealed segment (open does not scan those): restart it, so that its open cuts its log
   * at the damage and the leader sends the rest (`ordo status` advises exactly that).
   */
  private restartDamaged(): void {
    for (const slot of this.serving()) {
      if (!slot.log || slot.log.status().scrub.damagedBatches === 0) continue;
      this.count('damageRestarts');
      this.trace(`operator restarts ${slot.id}: it reports damaged batches`);
      this.kill(slot);
      this.restart(slot);
    }
  }

  private restart(slot: Slot): void {
    if (slot.owner !== 0 || slot.retired) return;
    this.trace(`restart ${slot.id}`);
    this.start(slot);
  }

  private partition(hold: number): void {
    const minority = new Set<Slot>([this.victim()]);
    const most = Math.floor((this.slots.length - 1) / 2);
    while (minority.size < most && this.random.int(2) === 0)
      minority.add(this.slots[this.random.int(this.slots.length)]!);
    this.count('partition');
    this.trace(`partition {${[...minority].map((s) => s.id).join(',')}} | rest for ${hold} ms`);
    for (const a of this.slots)
      for (const b of this.slots) if (minority.has(a) !== minority.has(b)) this.network.cut(a.id, b.id);
    this.time.after(hold, () => this.healNetwork());
  }

  private oneWay(hold: number): void {
    const from = this.victim();
    const others = this.slots.filter((s) => s !== from);
    const to = others[this.random.int(others.length)]!;
    this.count('oneWay');
    this.trace(`one-way cut ${from.id} -> ${to.id} for ${hold} ms`);
    this.network.cut(from.id, to.id);
    this.time.after(hold, () => this.healNetwork());
  }

  private healNetwork(): void {
    if (this.faulting) this.network.healAll();
  }

  // ---- heal and check ----

  /**
   * Every fault stops: links heal, disks behave (a full disk has space again), every node runs.
   * A node that waited for space goes on by itself; one that stopped is restarted now.
   */
  private heal(): void {
    this.trace('heal');
    this.network.faultsOn = false;
    this.network.healAll();
    this.diskFaults.clear();
    for (const slot of this.slots) if (slot.owner === 0 && !slot.retired) this.start(slot);
  }

  /** One leader; every node runs and has applied exactly the leader's log, all of it committed. */
  private converged(): boolean {
    const serving = this.serving();
    if (serving.some((s) => s.log === undefined)) return false;
    const statuses = serving.map((s) => s.log!.raftStatus());
    const leader = statuses.find((s) => s.role === 'leader');
    if (!leader || leader.commit !== leader.lastIndex) return false;
    const head = serving.find((s) => s.id === leader.id)!.log!.committedPosition;
    return serving.every((slot, i) => {
      const s = statuses[i]!;
      return (
        s.leader === leader.id &&
        s.applied === leader.commit &&
        s.lastIndex === leader.lastIndex &&
        slot.log!.committedPosition === head &&
        erasuresSettled(slot.log!)
      );
    });
  }

  /** The nodes that must converge: all but those retired for the operator to replace. */
  private serving(): Slot[] {
    return this.slots.filter((s) => !s.retired);
  }

  private async check(subscribers: Subscriber[]): Promise<void> {
    if (!this.converged()) {
      this.violations.push(`no convergence within ${HEAL_BOUND_MS} ms of the heal: ${this.describeNodes()}`);
      return;
    }
    const leader = this.serving().find((s) => s.log!.raftStatus().role === 'leader')!;
    const head = leader.log!.committedPosition;
    let final: WholeLog;
    try {
      final = await collect(leader.log!);
    } catch (error) {
      this.violations.push(`the final read failed: ${(error as Error).message}`);
      return;
    }
    const until = this.time.now + HEAL_BOUND_MS;
    while (this.time.now < until && subscribers.some((s) => s.next <= head)) await this.time.sleep(POLL_MS);
    for (const s of subscribers)
      if (s.next <= head) this.violations.push(`${s.name} stopped at ${s.next - 1}, the log ends at ${head}`);
    await this.checkIdentical(head);
    const serving = this.serving().map((slot) => ({ id: slot.id, log: slot.log! }));
    this.violations.push(...(await checkLifecycles(LIFECYCLE_STREAMS, leader.log!, serving)));
    this.count('erasures', await countErasures(leader.log!));
    const report = checkHistory({
      appends: this.appends,
      reads: [
        ...this.reads,
        ...subscribers.map((s) => s.read),
        { process: 'final', kind: 'final', from: final.from, trimmedBefore: final.from, events: final.events },
      ],
    });
    for (const v of report.violations) this.violations.push(`${v.class}: ${v.detail}`);
    this.count('finalEvents', final.events.length);
    if (final.from > 0) this.count('finalReadsTrimmed');
    for (const s of subscribers) this.count('subscriberRestarts', s.read.restarts?.length ?? 0);
    this.trace(`checked: ${final.events.length} events from @${final.from}, ${report.valid ? 'valid' : 'INVALID'}`);
  }

  /**
   * Every node holds the same bytes for the committed log, from the highest first position
   * among them (what each still holds; entries are the same on every node, so that position
   * starts a batch on each). Retention may move it while the nodes are read: then again.
   */
  private async checkIdentical(head: number): Promise<void> {
    const serving = this.serving();
    for (let attempt = 0; ; attempt++) {
      const from = Math.max(...serving.map((slot) => slot.log!.firstPosition));
      try {
        const logs = await Promise.all(serving.map((slot) => committedBytes(slot.log!, from, head)));
        for (let i = 1; i < logs.length; i++)
          if (!logs[i]!.equals(logs[0]!))
            this.violations.push(`${serving[i]!.id}'s committed log from @${from} differs from ${serving[0]!.id}'s`);
        return;
      } catch (error) {
        if (!(error instanceof PositionTrimmedError) || attempt >= IDENTICAL_RETRIES) throw error;
      }
    }
  }

  private describeNodes(): string {
    return this.slots
      .map((s) => {
        if (!s.log) return `${s.id} down`;
        const r = s.log.raftStatus();
        return `${s.id} ${r.role} t${r.term} leader ${r.leader} commit ${r.commit} applied ${r.applied} last ${r.lastIndex} head @${s.log.committedPosition}${s.log.raftStatus().recovering ? ' RECOVERING' : ''} erasures pending ${s.log.status().scavenge.pendingErasures}${r.role === 'leader' ? ` ${JSON.stringify(r.progress)}` : ''}`;
      })
      .join('; ');
  }

  private collectCounts(): void {
    for (const [key, value] of Object.entries(this.network.counts)) this.count(key, value);
    for (const slot of this.slots) for (const [key, value] of Object.entries(slot.disk.counts)) this.count(key, value);
    const outcomes = { ok: 0, failed: 0, unknown: 0 };
    for (const a of this.appends) outcomes[a.outcome]++;
    this.count('acked', outcomes.ok);
    this.count('failed', outcomes.failed);
    this.count('unknown', outcomes.unknown);
    const lifecycle = this.appends.filter((a) => a.stream.startsWith('$$') && a.outcome === 'ok');
    this.count('lifecycleChanges', lifecycle.length);
    this.count('tombstoneRefusals', this.appends.filter((a) => a.error === 'STREAM_DELETED').length);
    this.count('violations', this.violations.length);
  }
}

/** Whether this run has retention: half the runs by a generator of their own, so the rest run as before. */
function retentionOn(share: RetentionShare, seed: number): boolean {
  if (share === 'half') return seededRandom(seed ^ RETENTION_SALT).int(2) === 0;
  return share === 'all';
}

/** The committed log's stored bytes from `from` (a batch start) through `head`. */
async function committedBytes(log: OrdoNode, from: number, head: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let next = from; next <= head; ) {
    const raw = await log.readRaw(next, 1 << 20, 10_000, 'local');
    if (raw.count === 0) break;
    parts.push(Buffer.from(raw.bytes.subarray(0, raw.runs[raw.runs.length - 1]!.end)));
    next = raw.last + 1;
  }
  return Buffer.concat(parts);
}

/** Every erasure committed on the node removed its bytes there (a damaged segment gets the node restarted). */
function erasuresSettled(log: OrdoNode): boolean {
  return log.status().scavenge.pendingErasures === 0;
}

/** Erasures the log holds (each finished on every serving node, or the run did not converge). */
async function countErasures(log: OrdoNode): Promise<number> {
  let erasures = 0;
  for (const stream of LIFECYCLE_STREAMS)
    for await (const event of log.read(`$$${stream}`, { consistency: 'local' }))
      if (event.type === '$erased') erasures++;
  return erasures;
}

/** The kind of file a flip hit (`/data/segments/…seg@offset/size`), for the counts. */
function flipRegion(flip: string): string {
  const [path = '', rest = ''] = flip.split('@');
  const offset = Number(rest.split('/')[0]);
  if (path.endsWith('.seg')) return offset < SEGMENT_HEADER_BYTES ? 'segmentHeader' : 'segmentBatch';
  if (path.endsWith('.idx')) return 'index';
  if (path.endsWith('.ckpt')) return 'checkpoint';
  if (path.endsWith('raft-state')) return 'raftState';
  if (path.endsWith('log-start')) return 'logStart';
  return 'other';
}
