import { InvalidArgumentError, describe } from '../types/errors.js';
import type { Event, EventInput, EventLog, Filter } from '../types/event.js';
import { validateStream } from '../types/validate.js';
import { derivedId } from './derived-id.js';

export interface TransformOptions<S> {
  /** The output stream: the k-th output event goes to index k of it. */
  name: string;
  /** The inputs (must not include the output stream). */
  filter?: Filter | undefined;
  init?: () => S;
  /**
   * Deterministic: the same inputs in the same order give the same outputs, on any instance.
   * Returns the new state and zero or more output events (their ids are derived, not taken).
   */
  fn: (event: Event, state: S) => { state: S; events?: Array<Omit<EventInput, 'id'>> };
  onOutput?: (output: { index: number; position: number; written: boolean; input: Event }) => void;
}

/** Output writes in flight at most per instance. */
const MAX_IN_FLIGHT = 64;

export interface Transform {
  /** Outputs this instance wrote itself, and outputs another instance had written first. */
  stats(): { inputs: number; outputs: number; written: number; alreadyThere: number };
  stop(): Promise<void>;
  /** Settles when the transform ends: on stop, or with the error that stopped it. */
  readonly done: Promise<void>;
}

/**
 * The id of the k-th output of transform `name`: a UUID from SHA-256 of (name, k), so that
 * every instance writes the same event and a second write of it is recognised.
 */
export function outputId(name: string, index: number): string {
  return derivedId('ordo-transform', name, index);
}

/**
 * A deterministic transform: folds the input events with `fn` and writes the k-th
 * output with `existsOrWrite(name, k, …)`. Run N instances for fault tolerance: they compute
 * the same outputs, the first to write each one wins, the others find it there. An instance
 * killed at any moment loses nothing (the others, or its restart, write what it did not).
 * Outputs already in the stream when an instance starts are not written again: it replays its
 * inputs from the start to rebuild the state, and writes from the stream's count on.
 */
export async function transform<S>(log: EventLog, options: TransformOptions<S>): Promise<Transform> {
  const name = validateStream(options.name);
  if (typeof options.fn !== 'function')
    throw new InvalidArgumentError(`invalid fn ${describe(options.fn)}: expected (event, state) => { state, events }`);
  const filter = options.filter;
  if (!filter || (filter.streams === undefined && filter.prefixes === undefined)) {
    throw new InvalidArgumentError(
      `transform ${name} needs a filter with streams or prefixes: its inputs must not include its own output stream`,
    );
  }
  if (filter.streams?.includes(name) || filter.prefixes?.some((p) => name.startsWith(p))) {
    throw new InvalidArgumentError(
      `transform ${name} reads its own output stream (filter ${describe(filter)}): it would feed on itself`,
    );
  }
  let state = options.init ? options.init() : (undefined as S);
  let next = 0;
  const stats = { inputs: 0, outputs: 0, written: 0, alreadyThere: 0 };
  const known = await log.count(name);
  const subscription = log.subscribe({ from: 0, filter });
  // Writes are pipelined, in order: the log decides requests in the order they are made
  // (one connection, one engine), so output k is decided after k - 1 without waiting for its
  // answer first. Waiting for each would make one round trip per output the limit.
  const inFlight: Array<Promise<void>> = [];
  const done = (async () => {
    try {
      for await (const item of subscription) {
        if (!('position' in item)) continue;
        stats.inputs++;
        const result = options.fn(item, state);
        state = result.state;
        for (const output of result.events ?? []) {
          const index = next++;
          stats.outputs++;
          if (index < known) continue; // written before this instance started
          const event: EventInput = { ...output, id: outputId(name, index) };
          inFlight.push(
            log.existsOrWrite(name, index, event).then((answer) => {
              if (answer.written) stats.written++;
              else stats.alreadyThere++;
              options.onOutput?.({ index, position: answer.position, written: answer.written, input: item });
            }),
          );
          if (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift();
        }
      }
      while (inFlight.length > 0) await inFlight.shift();
    } finally {
      subscription.close();
      await Promise.allSettled(inFlight);
    }
  })();
  return {
    stats: () => ({ ...stats }),
    stop: async () => {
      subscription.close();
      await done.catch(() => undefined);
    },
    done,
  };
}
