import { InvalidArgumentError, WrongExpectedCountError, describe } from '../types/errors.js';
import type { AppendResult, EventLog } from '../types/event.js';
import { toDomainEvent, type Decider, type DomainEvent } from './decider.js';

export interface CommandResult<S, E> {
  /** The events the command produced (none: nothing was appended). */
  events: E[];
  /** The state after them. */
  state: S;
  /** Where they went; undefined when there were none. */
  appended: AppendResult | undefined;
  /** Conflicts retried before it went through. */
  retries: number;
}

/** Conflicts retried at most, by default: another writer moved the stream each time. */
export const DEFAULT_COMMAND_RETRIES = 3;

/**
 * Handles `command` on `stream`: reads and folds the stream, decides, and appends the new
 * events with the count it read as the expected count, so a concurrent writer makes it start
 * over instead of deciding on a stale state. Retries a conflict up to `maxRetries` times, then
 * throws the last WrongExpectedCountError. A domain error thrown by `decide` goes to the caller.
 */
export async function handleCommand<C, S, E extends DomainEvent>(
  log: EventLog,
  stream: string,
  decider: Decider<C, S, E>,
  command: C,
  options: { maxRetries?: number } = {},
): Promise<CommandResult<S, E>> {
  const maxRetries = options.maxRetries ?? DEFAULT_COMMAND_RETRIES;
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0)
    throw new InvalidArgumentError(`invalid maxRetries ${describe(options.maxRetries)}: expected an integer >= 0`);
  for (let retries = 0; ; retries++) {
    let state = decider.initial();
    let count = 0;
    for await (const event of log.read(stream)) {
      state = decider.evolve(state, toDomainEvent<E>(event));
      count++;
    }
    const events = decider.decide(command, state);
    if (events.length === 0) return { events, state, appended: undefined, retries };
    try {
      const appended = await log.append(
        stream,
        events.map((e) => ({ type: e.type, data: e.data })),
        { expected: count },
      );
      for (const event of events) state = decider.evolve(state, event);
      return { events, state, appended, retries };
    } catch (error) {
      if (!(error instanceof WrongExpectedCountError) || retries >= maxRetries) throw error;
    }
  }
}
