import { InvalidArgumentError, WrongExpectedCountError, describe } from '../types/errors.js';
import type { Event, EventLog, Filter } from '../types/event.js';
import { eventJson } from '../types/json.js';

/** How a failing handler is retried: backoff, then a circuit breaker that probes more slowly. */
export interface RetryPolicy {
  /** First wait after a failure (ms), doubled each time up to `maxDelayMs`. Default 100. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Consecutive failures after which the breaker opens. Default 5. */
  breakerFailures?: number;
  /** While open, one probe (a retry of the same event) this often (ms). Default 5,000. */
  probeEveryMs?: number;
}

export interface ConsumerOptions {
  /** The consumer's name: its checkpoints go to `$checkpoints-<name>`. */
  name: string;
  filter?: Filter;
  /** Handles one event; a rejection (or throw) pauses the consumer on that event and retries it. */
  handler: (event: Event) => Promise<void> | void;
  /** Write a checkpoint after this many handled events (and on stop). Default 100. */
  checkpointEvery?: number;
  retry?: RetryPolicy;
  /** Told of every state change (for logs and metrics). */
  onState?: (status: ConsumerStatus) => void;
}

/**
 * `running`: handling events; `retrying`: the handler failed, backing off; `open`: the breaker
 * opened, probing slowly; `stopped`: stop() was called; `fenced`: another instance with the same
 * name wrote a checkpoint first, so this one stopped; `failed`: the log itself failed.
 */
export type ConsumerState = 'running' | 'retrying' | 'open' | 'stopped' | 'fenced' | 'failed';

export interface ConsumerStatus {
  name: string;
  state: ConsumerState;
  /** Position of the last event handled (-1 before the first). */
  position: number;
  /** Position the last checkpoint records (-1: none yet). */
  checkpoint: number;
  /** Consecutive failures of the current event. */
  failures: number;
  handled: number;
  lastError: string | undefined;
}

export interface Consumer {
  status(): ConsumerStatus;
  /** Events committed to the log but not yet handled here (head - position). */
  lag(): Promise<number>;
  /** Stops after the event in hand, writes a checkpoint, resolves with the final status. */
  stop(): Promise<ConsumerStatus>;
  /** Resolves with the final status once the consumer ended (stopped, fenced or failed). */
  readonly done: Promise<ConsumerStatus>;
}

const CHECKPOINT_TYPE = '$checkpoint';

/** The stream a consumer's checkpoints go to. */
export function checkpointStream(name: string): string {
  return `$checkpoints-${name}`;
}

/**
 * A checkpointed consumer (at-least-once). It resumes after the position of its last
 * checkpoint, which lives in the log: the stream `$checkpoints-<name>`, written with an expected
 * count. A second instance with the same name that writes its own checkpoint first fences this
 * one, and the loser stops with state `fenced`: two instances never both advance. A failing
 * handler pauses the consumer on that event. It is retried with backoff, and after
 * `breakerFailures` failures the breaker opens and probes at `probeEveryMs`. It resumes once
 * the dependency is back, and never skips an event.
 */
export async function consume(log: EventLog, options: ConsumerOptions): Promise<Consumer> {
  const name = options.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) throw new InvalidArgumentError(`invalid consumer name ${describe(name)}: expected 1–128 letters, digits, '_', '.', ':' or '-'`);
  if (typeof options.handler !== 'function') throw new InvalidArgumentError(`invalid handler ${describe(options.handler)}: expected a function (event) => Promise<void>`);
  const every = options.checkpointEvery ?? 100;
  if (!Number.isSafeInteger(every) || every < 1) throw new InvalidArgumentError(`invalid checkpointEvery ${describe(options.checkpointEvery)}: expected an integer >= 1`);
  const retry = {
    initialDelayMs: positive('retry.initialDelayMs', options.retry?.initialDelayMs, 100),
    maxDelayMs: positive('retry.maxDelayMs', options.retry?.maxDelayMs, 30_000),
    breakerFailures: positive('retry.breakerFailures', options.retry?.breakerFailures, 5),
    probeEveryMs: positive('retry.probeEveryMs', options.retry?.probeEveryMs, 5_000),
  };
  const stream = checkpointStream(name);

  // Where to resume: the last checkpoint; the expected count for the next one: the stream's count.
  let checkpointCount = 0;
  let checkpoint = -1;
  for await (const event of log.read(stream, { backwards: true, limit: 1 })) {
    checkpointCount = event.index + 1;
    checkpoint = eventJson<{ position: number }>(event).position;
  }
  const status: ConsumerStatus = { name, state: 'running', position: checkpoint, checkpoint, failures: 0, handled: 0, lastError: undefined };
  const changed = (state: ConsumerState) => {
    if (status.state === state) return;
    status.state = state;
    options.onState?.({ ...status });
  };
  const subscription = log.subscribe({ from: checkpoint + 1, ...(options.filter ? { filter: options.filter } : {}) });
  let stopping = false;
  let sinceCheckpoint = 0;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  /** Writes a checkpoint at the handled position; false if another instance got there first. */
  const writeCheckpoint = async (): Promise<boolean> => {
    if (status.position === status.checkpoint) return true;
    const position = status.position;
    try {
      await log.append(stream, { type: CHECKPOINT_TYPE, data: { position } }, { expected: checkpointCount });
    } catch (error) {
      if (error instanceof WrongExpectedCountError) return false;
      throw error;
    }
    checkpointCount++;
    status.checkpoint = position;
    return true;
  };

  const handle = async (event: Event): Promise<void> => {
    // Retries the same event until it goes through or the consumer stops: never skipped.
    for (;;) {
      try {
        await options.handler(event);
        status.failures = 0;
        status.lastError = undefined;
        changed('running');
        return;
      } catch (error) {
        status.failures++;
        status.lastError = (error as Error)?.message ?? String(error);
        const open = status.failures >= retry.breakerFailures;
        changed(open ? 'open' : 'retrying');
        if (stopping) throw new Stopped();
        await sleep(open ? retry.probeEveryMs : Math.min(retry.initialDelayMs * 2 ** (status.failures - 1), retry.maxDelayMs));
        if (stopping) throw new Stopped();
      }
    }
  };

  const done = (async (): Promise<ConsumerStatus> => {
    try {
      for await (const item of subscription) {
        if (!('position' in item)) continue;
        await handle(item);
        status.position = item.position;
        status.handled++;
        if (++sinceCheckpoint >= every) {
          sinceCheckpoint = 0;
          if (!(await writeCheckpoint())) {
            changed('fenced');
            return { ...status };
          }
        }
        if (stopping) break;
      }
      if (!(await writeCheckpoint())) changed('fenced');
      else changed('stopped');
    } catch (error) {
      if (error instanceof Stopped) {
        if (!(await writeCheckpoint().catch(() => false))) changed('fenced');
        else changed('stopped');
      } else {
        status.lastError = (error as Error)?.message ?? String(error);
        changed('failed');
      }
    } finally {
      subscription.close();
    }
    return { ...status };
  })();

  return {
    status: () => ({ ...status }),
    lag: async () => Math.max(0, (await log.headPosition()) - status.position),
    stop: async () => {
      stopping = true;
      wake?.();
      subscription.close();
      return done;
    },
    done,
  };
}

class Stopped extends Error {}

function positive(what: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidArgumentError(`invalid ${what} ${describe(value)}: expected an integer > 0`);
}
