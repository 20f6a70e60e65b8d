import { InvalidArgumentError, describe } from '../types/errors.js';
import {
  hasReconnects,
  type Event,
  type EventLog,
  type Filter,
  type Json,
  type Subscription,
  type TransientEvent,
} from '../types/event.js';
import { eventJson } from '../types/json.js';
import { EventStream, type StreamSubscription } from '../stream/index.js';
import { derivedId } from './derived-id.js';

/**
 * A log-replicated model: a state folded from the log, published to many readers as
 * a snapshot bound to a position plus the events after it. Every reader of the same log folds
 * the same events in the same order, so every copy of the model is the same state at the same
 * position, whoever computes it.
 */
export interface ModelDefinition<S> {
  /** 1–128 letters, digits, '_', '.', ':' or '-': its snapshots go to `$snapshots-<name>`. */
  name: string;
  /** Which events count (default: the whole log, without Ordo's own `$snapshots-`/`$checkpoints-` streams). */
  filter?: Filter;
  init: () => S;
  /** Pure: returns the new state (the state it is given is frozen; copy what changes). */
  apply: (state: S, event: Event) => S;
  /** Snapshots of another version are ignored: bump it when `apply` or the state's shape changes. */
  version: number | string;
  /** Write a snapshot every this many applied events (default: never; a hosting server sets it). */
  snapshotEvery?: number;
  /** The state as JSON and back, for snapshots (default: the state is JSON already). */
  toJson?: (state: S) => Json;
  fromJson?: (json: Json) => S;
}

/** One step of a model: an event applied, or a new state loaded (`rebuilt`). */
export interface ModelChange<S> {
  readonly state: S;
  /** The position the state is as of. */
  readonly position: number;
  /** The event just applied; undefined when the whole state was (re)loaded. */
  readonly event: Event | undefined;
}

/** `loading`: not ready yet; `live`: following the log; `resuming`: re-subscribing after an error. */
export type ModelState = 'loading' | 'live' | 'resuming' | 'closed' | 'failed';

export interface ModelStatus {
  name: string;
  state: ModelState;
  position: number;
  /** Events applied since the start of the log (the snapshot's count plus those folded here). */
  events: number;
  /** Position of the snapshot the last load started from (-1: folded from the start). */
  loadedFrom: number;
  /** Snapshots this model appended (a duplicate of another instance's counts: the log kept one). */
  snapshotsWritten: number;
  /** Times the model re-subscribed after its subscription failed, and times it rebuilt from scratch. */
  resumes: number;
  rebuilds: number;
  lastError: string | undefined;
}

export interface Model<S> {
  readonly name: string;
  /** The current state, deeply frozen. Throws ModelNotReadyError before `ready` resolves. */
  readonly state: S;
  /** The position `state` is as of. */
  readonly position: number;
  /** Resolves once the model holds a complete state (as of the log's head when it started). */
  readonly ready: Promise<Model<S>>;
  status(): ModelStatus;
  /** Every change from now on, in order (an async iterator; `close()` or the signal ends it). */
  changes(options?: { signal?: AbortSignal }): AsyncIterableIterator<ModelChange<S>>;
  /** Calls `listener` on every change from now on; returns the function that stops it. */
  onChange(listener: (change: ModelChange<S>) => void): () => void;
  /** How far the model is behind the log's head, in positions. */
  lag(): Promise<number>;
  close(): Promise<void>;
}

/** A model definition of any state type (for collections of them: a server's hosted models). */
// biome-ignore lint/suspicious/noExplicitAny: models of unrelated state types share one collection
export type AnyModelDefinition = ModelDefinition<any>;

export class ModelNotReadyError extends Error {
  constructor(name: string) {
    super(`model ${JSON.stringify(name)} is not ready: await model.ready before reading its state`);
    this.name = 'ModelNotReadyError';
  }
}

const SNAPSHOT_TYPE = '$snapshot';
/** How many snapshots back a load looks for one of its version. */
const SNAPSHOT_SCAN = 100;
/** Wait before re-subscribing after a failed subscription (ms), doubled up to the max. */
const RESUME_DELAY_MS = 50;
const RESUME_MAX_DELAY_MS = 2_000;
/** Streams a model never sees unless its filter names them: pattern bookkeeping whose timing differs per instance. */
const BOOKKEEPING_PREFIXES = ['$snapshots-', '$checkpoints-'];
const MARK = Symbol.for('ordo.model');

/** The stream a model's snapshots go to. */
export function snapshotStream(name: string): string {
  return `$snapshots-${name}`;
}

/** Checks a model definition (and marks it, so `ordo serve --models` finds it among a module's exports). */
export function defineModel<S>(definition: ModelDefinition<S>): ModelDefinition<S> {
  const { name, init, apply, version, snapshotEvery } = definition ?? ({} as ModelDefinition<S>);
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name))
    throw new InvalidArgumentError(
      `invalid model name ${describe(name)}: expected 1–128 letters, digits, '_', '.', ':' or '-'`,
    );
  if (typeof init !== 'function' || typeof apply !== 'function')
    throw new InvalidArgumentError(
      `invalid model ${JSON.stringify(name)}: expected init() and apply(state, event) functions`,
    );
  if (typeof version !== 'number' && typeof version !== 'string')
    throw new InvalidArgumentError(`invalid model version ${describe(version)}: expected a number or a string`);
  if (snapshotEvery !== undefined && (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1))
    throw new InvalidArgumentError(`invalid snapshotEvery ${describe(snapshotEvery)}: expected an integer >= 1`);
  return Object.freeze({ ...definition, [MARK]: true });
}

export function isModelDefinition(value: unknown): value is ModelDefinition<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARK] === true;
}

/** The id of a model's snapshot after its n-th event: every instance writing it writes the same event. */
export function snapshotId(name: string, version: number | string, events: number): string {
  return derivedId('ordo-snapshot', name, String(version), events);
}

/**
 * Opens a live model over `log`: it loads the newest snapshot of its version (if any), folds
 * the events after it up to the head, resolves `ready`, and then follows the log. If its
 * subscription fails it resumes from its position; if the log no longer reaches that position
 * (the server's data was replaced), it rebuilds from scratch. Readers get frozen states.
 */
export function openModel<S>(
  log: EventLog,
  definition: ModelDefinition<S>,
  options: { snapshotEvery?: number } = {},
): Model<S> {
  const def = defineModel(definition);
  const snapshotEvery = options.snapshotEvery ?? def.snapshotEvery;
  if (snapshotEvery !== undefined && (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1))
    throw new InvalidArgumentError(`invalid snapshotEvery ${describe(snapshotEvery)}: expected an integer >= 1`);
  return new LiveModel(log, def, snapshotEvery);
}

class LiveModel<S> implements Model<S> {
  readonly ready: Promise<Model<S>>;
  private current: S | undefined;
  private at = -1;
  private applied = 0;
  private phase: ModelState = 'loading';
  private loadedFrom = -1;
  private snapshotsWritten = 0;
  private snapshotting: Promise<void> | undefined;
  private resumes = 0;
  private rebuilds = 0;
  private lastError: string | undefined;
  private subscription: Subscription<Event | TransientEvent> | undefined;
  private readonly published = new EventStream<ModelChange<S>>();
  private readonly closing = new AbortController();
  private readonly running: Promise<void>;
  private rebuildRequested = false;
  private readonly stopReconnects: (() => void) | undefined;
  private markReady!: () => void;
  private failReady!: (error: Error) => void;

  constructor(
    private readonly log: EventLog,
    private readonly def: ModelDefinition<S>,
    private readonly snapshotEvery: number | undefined,
  ) {
    this.ready = new Promise<Model<S>>((resolve, reject) => {
      this.markReady = () => resolve(this);
      this.failReady = reject;
    });
    // A model nobody awaits must not crash the process with an unhandled rejection.
    this.ready.catch(() => undefined);
    // After a reconnect the subscription resumes by itself; only a log that no longer reaches
    // our position (replaced behind its address) needs a rebuild, and only the head tells.
    this.stopReconnects = hasReconnects(log) ? log.onReconnect(() => void this.checkPositionExists()) : undefined;
    this.running = this.run();
  }

  get name(): string {
    return this.def.name;
  }

  get state(): S {
    if (this.current === undefined && this.phase === 'loading') throw new ModelNotReadyError(this.def.name);
    return this.current as S;
  }

  get position(): number {
    return this.at;
  }

  status(): ModelStatus {
    return {
      name: this.def.name,
      state: this.phase,
      position: this.at,
      events: this.applied,
      loadedFrom: this.loadedFrom,
      snapshotsWritten: this.snapshotsWritten,
      resumes: this.resumes,
      rebuilds: this.rebuilds,
      lastError: this.lastError,
    };
  }

  changes(options: { signal?: AbortSignal } = {}): StreamSubscription<ModelChange<S>> {
    return this.published.subscribe(options);
  }

  onChange(listener: (change: ModelChange<S>) => void): () => void {
    const stop = new AbortController();
    const changes = this.changes({ signal: stop.signal });
    void (async () => {
      for await (const change of changes) listener(change);
    })();
    return () => stop.abort();
  }

  async lag(): Promise<number> {
    return Math.max(0, (await this.log.headPosition()) - this.at);
  }

  async close(): Promise<void> {
    this.stopReconnects?.();
    if (this.phase !== 'failed') this.phase = 'closed';
    this.closing.abort();
    this.subscription?.close();
    await this.running;
    await this.snapshotting;
    this.published.close();
  }

  private get closed(): boolean {
    return this.closing.signal.aborted;
  }

  private async run(): Promise<void> {
    let delay = RESUME_DELAY_MS;
    let load = true;
    while (!this.closed) {
      try {
        if (load) {
          await this.load();
          load = false;
          if (this.phase === 'loading') this.markReady();
        }
        this.phase = 'live';
        await this.follow();
        delay = RESUME_DELAY_MS;
        if (this.rebuildRequested) {
          this.rebuildRequested = false;
          this.rebuilds++;
          load = true;
        }
      } catch (error) {
        if (this.closed) break;
        if (error instanceof ModelApplyError) return this.fail(error);
        if ((error as { code?: string }).code === 'LOG_CLOSED') {
          // The log handle was closed under the model: nothing to resume.
          this.phase = 'closed';
          this.lastError = (error as Error).message;
          this.failReady(error as Error);
          this.published.close();
          return;
        }
        this.lastError = (error as Error).message;
        if (this.phase !== 'loading') this.phase = 'resuming';
        await sleep(delay, this.closing.signal);
        delay = Math.min(delay * 2, RESUME_MAX_DELAY_MS);
        if (this.closed) break;
        if (!load) {
          this.resumes++;
          // A log that no longer reaches our position is not the log we folded: start over.
          const head = await this.log.headPosition().catch(() => undefined);
          if (head !== undefined && head < this.at) {
            this.rebuilds++;
            load = true;
          }
        }
      }
    }
  }

  private async checkPositionExists(): Promise<void> {
    const head = await this.log.headPosition().catch(() => undefined);
    if (head === undefined || head >= this.at || this.closed || this.phase === 'loading') return;
    this.rebuildRequested = true;
    this.subscription?.close();
  }

  private fail(error: ModelApplyError): void {
    this.phase = 'failed';
    this.lastError = error.message;
    this.failReady(error);
    this.published.close();
  }

  /** The newest snapshot of this version at or below the head, then the events after it up to the head. */
  private async load(): Promise<void> {
    const head = await this.log.headPosition();
    let state = this.def.init();
    let position = -1;
    let applied = 0;
    const snapshot = await this.findSnapshot(head);
    if (snapshot) {
      state = this.def.fromJson ? this.def.fromJson(snapshot.state) : (snapshot.state as S);
      position = snapshot.position;
      applied = snapshot.events;
    }
    this.loadedFrom = position;
    state = deepFreeze(state);
    if (head > position) {
      for await (const event of this.log.readAll({
        from: position + 1,
        ...(this.def.filter ? { filter: this.def.filter } : {}),
      })) {
        if (event.position > head) break;
        if (this.skips(event)) continue;
        state = this.applyOne(state, event);
        applied++;
        if (this.closed) return;
      }
      position = head;
    }
    this.current = state;
    this.at = position;
    this.applied = applied;
    this.published.publish({ state, position, event: undefined });
    // Far past the newest snapshot (or without one): write one now rather than after N more events.
    if (this.snapshotEvery !== undefined && applied - (snapshot?.events ?? 0) >= this.snapshotEvery) this.snapshot();
  }

  private async findSnapshot(head: number): Promise<{ state: Json; position: number; events: number } | undefined> {
    for await (const event of this.log.read(snapshotStream(this.def.name), { backwards: true, limit: SNAPSHOT_SCAN })) {
      if (event.type !== SNAPSHOT_TYPE) continue;
      const data = eventJson<{ version?: unknown; position?: unknown; events?: unknown; state?: Json }>(event);
      if (
        data.version !== this.def.version ||
        typeof data.position !== 'number' ||
        typeof data.events !== 'number' ||
        data.position > head
      )
        continue;
      return { state: data.state ?? null, position: data.position, events: data.events };
    }
    return undefined;
  }

  private async follow(): Promise<void> {
    const subscription = this.log.subscribe({
      from: this.at + 1,
      ...(this.def.filter ? { filter: this.def.filter } : {}),
    });
    this.subscription = subscription;
    // A rebuild asked for while no subscription was open: this one would wait at a position that never comes.
    if (this.rebuildRequested) subscription.close();
    try {
      for await (const item of subscription) {
        if ('transient' in item) continue;
        if (this.skips(item)) continue;
        const state = this.applyOne(this.current as S, item);
        this.current = state;
        this.at = item.position;
        this.applied++;
        this.published.publish({ state, position: item.position, event: item });
        if (this.snapshotEvery !== undefined && this.applied % this.snapshotEvery === 0) this.snapshot();
      }
    } finally {
      this.subscription = undefined;
      subscription.close();
    }
  }

  private skips(event: Event): boolean {
    if (!event.stream.startsWith('$')) return false;
    const named =
      this.def.filter?.streams?.includes(event.stream) ||
      this.def.filter?.prefixes?.some((prefix) => prefix.startsWith('$') && event.stream.startsWith(prefix));
    return !named && BOOKKEEPING_PREFIXES.some((prefix) => event.stream.startsWith(prefix));
  }

  private applyOne(state: S, event: Event): S {
    let next: S;
    try {
      next = this.def.apply(state, event);
    } catch (error) {
      const hint =
        error instanceof TypeError && /read.only|frozen|not extensible/i.test(error.message)
          ? ' (the state is frozen: return a new state instead of changing it)'
          : '';
      throw new ModelApplyError(
        `model ${JSON.stringify(this.def.name)}: apply failed on the event` +
          ` at position ${event.position}${hint}: ${(error as Error).message}`,
        error,
      );
    }
    return deepFreeze(next);
  }

  /** Writes the state as it is now; one write at a time, a busy writer skips this one. */
  private snapshot(): void {
    if (this.snapshotting) return;
    const { name, version } = this.def;
    const state = this.current as S;
    const position = this.at;
    const events = this.applied;
    const write = async (): Promise<void> => {
      const json = this.def.toJson ? this.def.toJson(state) : (state as unknown as Json);
      // Another instance that wrote the same snapshot first makes this append its duplicate (same id).
      await this.log.append(snapshotStream(name), {
        id: snapshotId(name, version, events),
        type: SNAPSHOT_TYPE,
        data: { version, position, events, state: json },
      });
      this.snapshotsWritten++;
    };
    this.snapshotting = write()
      .catch((error: Error) => void (this.lastError = `snapshot at position ${position}: ${error.message}`))
      .finally(() => (this.snapshotting = undefined));
  }
}

class ModelApplyError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'ModelApplyError';
  }
}

/** Freezes `value` and everything in it that is not frozen yet (shared, already frozen parts are not walked again). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  // Typed arrays with elements cannot be frozen (event data is one): they are left as they are.
  if (ArrayBuffer.isView(value)) return value;
  if (value instanceof Map || value instanceof Set) freezeCollection(value);
  Object.freeze(value);
  if (value instanceof Map) {
    for (const [key, item] of value) {
      deepFreeze(key);
      deepFreeze(item);
    }
  } else if (value instanceof Set) {
    for (const item of value) deepFreeze(item);
  } else {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Object.freeze does not stop Map.set / Set.add: those are made to throw as a frozen object's writes do. */
function freezeCollection(collection: Map<unknown, unknown> | Set<unknown>): void {
  const refuse = (): never => {
    throw new TypeError('Cannot modify a frozen model state (it is read-only: return a new state from apply)');
  };
  for (const method of ['set', 'add', 'delete', 'clear'] as const) {
    if (method in collection) Object.defineProperty(collection, method, { value: refuse });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
