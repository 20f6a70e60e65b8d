import { eventJson } from '../types/json.js';
import type { Event, Json } from '../types/event.js';

/** An event as a decider sees it: a type and JSON data (Ordo stores it as a JSON event). */
export interface DomainEvent<T extends string = string, D extends Json = Json> {
  type: T;
  data: D;
}

/**
 * The decider of a stream (Emmett's and Chassaing's shape): `decide` turns a command and the
 * current state into new events (or throws a domain error), `evolve` folds an event into the
 * state, `initial` is the state of an empty stream. All three are pure.
 */
export interface Decider<C, S, E extends DomainEvent = DomainEvent> {
  decide: (command: C, state: S) => E[];
  evolve: (state: S, event: E) => S;
  initial: () => S;
}

/** A stored event as the decider's event (JSON data; a binary event gets its bytes as an array). */
export function toDomainEvent<E extends DomainEvent>(event: Event): E {
  const data = event.contentType === 'json' ? eventJson(event) : Array.from(event.data);
  return { type: event.type, data } as E;
}
