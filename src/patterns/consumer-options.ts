import { InvalidArgumentError, describe } from '../types/errors.js';
import type { Event, Filter } from '../types/event.js';

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

/** The options with their defaults filled in, every one checked. */
export interface CheckedConsumerOptions {
  name: string;
  checkpointEvery: number;
  retry: Required<RetryPolicy>;
}

const CONSUMER_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const DEFAULT_CHECKPOINT_EVERY = 100;
const DEFAULT_RETRY: Required<RetryPolicy> = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  breakerFailures: 5,
  probeEveryMs: 5_000,
};

/** Checks `consume`'s options up front: a bad one throws InvalidArgumentError naming it. */
export function checkConsumerOptions(options: ConsumerOptions): CheckedConsumerOptions {
  const name = options.name;
  if (typeof name !== 'string' || !CONSUMER_NAME.test(name)) {
    throw new InvalidArgumentError(
      `invalid consumer name ${describe(name)}: expected 1–128 letters, digits, '_', '.', ':' or '-'`,
    );
  }
  if (typeof options.handler !== 'function') {
    throw new InvalidArgumentError(
      `invalid handler ${describe(options.handler)}: expected a function (event) => Promise<void>`,
    );
  }
  const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
  if (!Number.isSafeInteger(every) || every < 1) {
    throw new InvalidArgumentError(
      `invalid checkpointEvery ${describe(options.checkpointEvery)}: expected an integer >= 1`,
    );
  }
  const retry = {
    initialDelayMs: positive('retry.initialDelayMs', options.retry?.initialDelayMs, DEFAULT_RETRY.initialDelayMs),
    maxDelayMs: positive('retry.maxDelayMs', options.retry?.maxDelayMs, DEFAULT_RETRY.maxDelayMs),
    breakerFailures: positive('retry.breakerFailures', options.retry?.breakerFailures, DEFAULT_RETRY.breakerFailures),
    probeEveryMs: positive('retry.probeEveryMs', options.retry?.probeEveryMs, DEFAULT_RETRY.probeEveryMs),
  };
  return { name, checkpointEvery: every, retry };
}

function positive(what: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (Number.isSafeInteger(value) && value > 0) return value;
  throw new InvalidArgumentError(`invalid ${what} ${describe(value)}: expected an integer > 0`);
}
