import { InvalidArgumentError, describe } from '../types/errors.js';
import type { Event, EventLog, Filter } from '../types/event.js';

export interface FoldOptions<S> {
  /** Which events count (default: the whole log). */
  filter?: Filter;
  init: () => S;
  apply: (state: S, event: Event) => S;
  /**
   * Fold up to and including this position: the state as it was when the log ended there.
   * Default: the log's head when the fold starts. Beyond the head is refused (that state does
   * not exist yet, and would not be the same on a second call).
   */
  until?: number;
}

export interface Folded<S> {
  state: S;
  /** The position the state is as of (`until`, or the head the fold read to); -1 for an empty log. */
  position: number;
  /** Events applied. */
  events: number;
}

/**
 * Time travel: the state of `apply` over the log (or the events of `filter`) as of a past
 * position. The log never changes below its head, so the same `until` always gives the same
 * state, on any node.
 */
export async function fold<S>(log: EventLog, options: FoldOptions<S>): Promise<Folded<S>> {
  if (typeof options.init !== 'function' || typeof options.apply !== 'function') {
    throw new InvalidArgumentError(`invalid fold ${describe(options)}: expected { init(), apply(state, event) }`);
  }
  const head = await log.headPosition();
  const until = options.until ?? head;
  if (!Number.isSafeInteger(until) || until < -1)
    throw new InvalidArgumentError(`invalid until ${describe(options.until)}: expected a position >= -1`);
  if (until > head)
    throw new InvalidArgumentError(`invalid until ${until}: the log's head is ${head}, a fold can only look back`);
  let state = options.init();
  let events = 0;
  if (until >= 0) {
    for await (const event of log.readAll({ from: 0, ...(options.filter ? { filter: options.filter } : {}) })) {
      if (event.position > until) break;
      state = options.apply(state, event);
      events++;
    }
  }
  return { state, position: until, events };
}
