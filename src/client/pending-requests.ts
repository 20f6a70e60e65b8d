import type { Response } from '../protocol/responses.js';
import { AbortedError } from '../types/errors.js';
import { markResent } from './outgoing.js';

/** A request sent (or waiting for a connection) and not answered yet. */
export interface Pending {
  frame: Uint8Array;
  /** It went out on a connection that was lost: a re-send is marked as one. */
  sent: boolean;
  operation: string;
  deadline: number;
  accept(response: Response): void;
  fail(error: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** What a new pending request is made of; `accept` turns its answer into the caller's result. */
export interface PendingRequest<T> {
  frame: Uint8Array;
  sent: boolean;
  operation: string;
  deadline: number;
  signal: AbortSignal | undefined;
  accept: (response: Response) => T;
}

/**
 * The requests awaiting an answer, by request id, each kept with its own bytes so it can be
 * re-sent after a reconnect. `onBusy` hears when the first one arrives and the last one leaves.
 */
export class PendingRequests {
  private readonly byId = new Map<number, Pending>();

  constructor(private readonly onBusy: (busy: boolean) => void) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: number): Pending | undefined {
    return this.byId.get(id);
  }

  /** Sends every request again on a new connection; those that went out before are flagged as re-sent. */
  resend(send: (frame: Uint8Array) => void): void {
    for (const pending of this.byId.values()) {
      if (pending.sent) markResent(pending.frame);
      pending.sent = true;
      send(pending.frame);
    }
  }

  /** Registers request `id`; the promise settles with its answer, an abort, or `fail`. */
  add<T>(id: number, request: PendingRequest<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        frame: request.frame,
        sent: request.sent,
        operation: request.operation,
        deadline: request.deadline,
        accept: (response) => {
          if (response.kind === 'error') reject(response.error);
          else {
            try {
              resolve(request.accept(response));
            } catch (error) {
              reject(error);
            }
          }
        },
        fail: reject,
        signal: request.signal,
        onAbort: undefined,
      };
      const signal = request.signal;
      if (signal) {
        pending.onAbort = () => {
          const current = this.byId.get(id);
          if (current) this.settle(id, current).fail(new AbortedError(request.operation));
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.byId.set(id, pending);
      if (this.byId.size === 1) this.onBusy(true);
    });
  }

  /** Removes request `id` (answered, failed or given up); the caller settles it. */
  settle(id: number, pending: Pending): Pending {
    this.byId.delete(id);
    if (this.byId.size === 0) this.onBusy(false);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    return pending;
  }

  failAll(error: Error): void {
    for (const [id, pending] of this.byId) this.settle(id, pending).fail(error);
  }

  /** Fails every request whose deadline passed by `now`, with the error `errorFor` makes. */
  expire(now: number, errorFor: (pending: Pending) => Error): void {
    for (const [id, pending] of this.byId) {
      if (pending.deadline > now) continue;
      this.settle(id, pending).fail(errorFor(pending));
    }
  }
}
