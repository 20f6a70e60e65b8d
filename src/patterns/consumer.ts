import { WrongExpectedCountError } from '../types/errors.js';
import type { Event, EventLog } from '../types/event.js';
import { eventJson } from '../types/json.js';
import { CircuitBreaker } from './circuit-breaker.js';
import {
  checkConsumerOptions,
  type ConsumerOptions,
  type ConsumerState,
  type ConsumerStatus,
} from './consumer-options.js';

export type { ConsumerOptions, ConsumerState, ConsumerStatus, RetryPolicy } from './consumer-options.js';

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
  const { name, checkpointEvery: every, retry } = checkConsumerOptions(options);
  const breaker = new CircuitBreaker(retry);
  const stream = checkpointStream(name);

  let { checkpoint, checkpointCount } = await lastCheckpoint(log, stream);
  const status: ConsumerStatus = {
    name,
    state: 'running',
    position: checkpoint,
    checkpoint,
    failures: 0,
    handled: 0,
    lastError: undefined,
  };
  const changed = (state: ConsumerState) => {
    if (status.state === state) return;
    status.state = state;
    options.onState?.({ ...status });
  };
  const subscription = log.subscribe({ from: checkpoint + 1, ...(options.filter ? { filter: options.filter } : {}) });
  let stopping = false;
  let sinceCheckpoint = 0;
  const pause = new Pause();

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
        changed(breaker.isOpen(status.failures) ? 'open' : 'retrying');
        if (stopping) throw new Stopped();
        await pause.sleep(breaker.delayMs(status.failures));
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
      pause.wake();
      subscription.close();
      return done;
    },
    done,
  };
}

class Stopped extends Error {}

/**
 * Where to resume: the last checkpoint's position (-1: none); and the expected count for the
 * next checkpoint: the stream's count.
 */
async function lastCheckpoint(log: EventLog, stream: string): Promise<{ checkpoint: number; checkpointCount: number }> {
  let checkpointCount = 0;
  let checkpoint = -1;
  for await (const event of log.read(stream, { backwards: true, limit: 1 })) {
    checkpointCount = event.index + 1;
    checkpoint = eventJson<{ position: number }>(event).position;
  }
  return { checkpoint, checkpointCount };
}

/** A wait between retries that stop() cuts short. */
class Pause {
  private wakeUp: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}
