import { CheckpointLostError, WrongExpectedCountError } from '../types/errors.js';
import type { Event, EventLog, Subscription, TransientEvent } from '../types/event.js';
import { eventJson } from '../types/json.js';
import { CircuitBreaker } from './circuit-breaker.js';
import {
  checkConsumerOptions,
  type CheckedConsumerOptions,
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
  const checked = checkConsumerOptions(options);
  const stream = checkpointStream(checked.name);
  const { checkpoint, checkpointCount } = await lastCheckpoint(log, stream);
  const loop = new ConsumerLoop(log, options, checked, stream, checkpoint, checkpointCount);
  return {
    status: () => ({ ...loop.status }),
    lag: async () => Math.max(0, (await log.headPosition()) - loop.status.position),
    stop: () => loop.stop(),
    done: loop.done,
  };
}

/** One running consumer: its subscription, the handle/retry loop and its checkpoints. */
class ConsumerLoop {
  readonly status: ConsumerStatus;
  readonly done: Promise<ConsumerStatus>;
  private readonly breaker: CircuitBreaker;
  private readonly subscription: Subscription<Event | TransientEvent>;
  private readonly pause = new Pause();
  private stopping = false;
  private sinceCheckpoint = 0;

  constructor(
    private readonly log: EventLog,
    private readonly options: ConsumerOptions,
    private readonly checked: CheckedConsumerOptions,
    private readonly stream: string,
    checkpoint: number,
    private checkpointCount: number,
  ) {
    this.breaker = new CircuitBreaker(checked.retry);
    this.status = {
      name: checked.name,
      state: 'running',
      position: checkpoint,
      checkpoint,
      failures: 0,
      handled: 0,
      lastError: undefined,
    };
    const filter = options.filter;
    // A new consumer starts at the start of what retention kept; one with a checkpoint right after
    // it, and fails (PositionTrimmedError) if retention removed that: it never skips silently.
    const from = checkpoint < 0 ? 'start' : checkpoint + 1;
    this.subscription = log.subscribe({ from, ...(filter ? { filter } : {}) });
    this.done = this.run();
  }

  async stop(): Promise<ConsumerStatus> {
    this.stopping = true;
    this.pause.wake();
    this.subscription.close();
    return this.done;
  }

  private changed(state: ConsumerState): void {
    const status = this.status;
    if (status.state === state) return;
    status.state = state;
    this.options.onState?.({ ...status });
  }

  private async run(): Promise<ConsumerStatus> {
    const status = this.status;
    try {
      for await (const item of this.subscription) {
        if (!('position' in item)) continue;
        await this.handle(item);
        status.position = item.position;
        status.handled++;
        if (++this.sinceCheckpoint >= this.checked.checkpointEvery) {
          this.sinceCheckpoint = 0;
          if (!(await this.writeCheckpoint())) {
            this.changed('fenced');
            return { ...status };
          }
        }
        if (this.stopping) break;
      }
      if (!(await this.writeCheckpoint())) this.changed('fenced');
      else this.changed('stopped');
    } catch (error) {
      if (error instanceof Stopped) {
        if (!(await this.writeCheckpoint().catch(() => false))) this.changed('fenced');
        else this.changed('stopped');
      } else {
        status.lastError = (error as Error)?.message ?? String(error);
        this.changed('failed');
      }
    } finally {
      this.subscription.close();
    }
    return { ...status };
  }

  /** Retries the same event until it goes through or the consumer stops: never skipped. */
  private async handle(event: Event): Promise<void> {
    const status = this.status;
    for (;;) {
      try {
        await this.options.handler(event);
        status.failures = 0;
        status.lastError = undefined;
        this.changed('running');
        return;
      } catch (error) {
        status.failures++;
        status.lastError = (error as Error)?.message ?? String(error);
        this.changed(this.breaker.isOpen(status.failures) ? 'open' : 'retrying');
        if (this.stopping) throw new Stopped();
        await this.pause.sleep(this.breaker.delayMs(status.failures));
        if (this.stopping) throw new Stopped();
      }
    }
  }

  /** Writes a checkpoint at the handled position; false if another instance got there first. */
  private async writeCheckpoint(): Promise<boolean> {
    const status = this.status;
    if (status.position === status.checkpoint) return true;
    const position = status.position;
    try {
      const data = { position };
      await this.log.append(this.stream, { type: CHECKPOINT_TYPE, data }, { expected: this.checkpointCount });
    } catch (error) {
      if (error instanceof WrongExpectedCountError) return false;
      throw error;
    }
    this.checkpointCount++;
    status.checkpoint = position;
    return true;
  }
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
  if (checkpointCount > 0) return { checkpoint, checkpointCount };
  const written = await log.count(stream);
  if (written === 0) return { checkpoint, checkpointCount };
  // Deleted on purpose (deleteStream): the consumer starts over from the start of the log.
  if ((await log.getStreamMetadata(stream)).deleted) return { checkpoint: -1, checkpointCount: written };
  // Written but not readable: retention removed it (or metadata hides it). Starting over from
  // what is left would skip what went, unnoticed.
  throw new CheckpointLostError(
    stream,
    `${stream} holds ${written} checkpoints but none is readable any more (retention removed them, or` +
      ' its metadata hides them): where to resume is unknown. deleteStream it to start over from the' +
      ' start of the log',
  );
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
