import { EVENTS_DONE } from '../protocol/constants.js';
import type { Response } from '../protocol/responses.js';
import { InvalidArgumentError, ProtocolError, describe } from '../types/errors.js';
import type { AppendResult, Event, ReadConsistency } from '../types/event.js';

/** A page of events as a read request is answered: where the next page starts, and if it is the last. */
export interface EventsPage {
  events: Event[];
  next: number;
  done: boolean;
}

export function appendResult(response: Response): AppendResult {
  if (response.kind !== 'appendOk') throw unexpected('append', response);
  const { position, index, count } = response.result;
  return { position, index, count };
}

export function eventsPage(operation: string, response: Response): EventsPage {
  if (response.kind !== 'events') throw unexpected(operation, response);
  return { events: response.events, next: response.next, done: (response.flags & EVENTS_DONE) !== 0 };
}

export function unexpected(operation: string, response: Response): ProtocolError {
  return new ProtocolError(`${operation}: unexpected answer ${response.kind}`);
}

export function validateConsistency(value: unknown): ReadConsistency {
  if (value === undefined || value === 'linearizable') return 'linearizable';
  if (value === 'local') return 'local';
  throw new InvalidArgumentError(`invalid consistency ${describe(value)}: expected 'linearizable' or 'local'`);
}
