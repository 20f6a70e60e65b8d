import type { RetryPolicy } from './consumer-options.js';

/**
 * When a failing handler is tried again: exponential backoff after each failure, and once
 * `breakerFailures` failures in a row opened the breaker, one probe every `probeEveryMs`.
 */
export class CircuitBreaker {
  constructor(private readonly policy: Required<RetryPolicy>) {}

  /** Whether `failures` consecutive failures opened the breaker. */
  isOpen(failures: number): boolean {
    return failures >= this.policy.breakerFailures;
  }

  /** How long to wait before the next try after `failures` consecutive failures. */
  delayMs(failures: number): number {
    if (this.isOpen(failures)) return this.policy.probeEveryMs;
    return Math.min(this.policy.initialDelayMs * 2 ** (failures - 1), this.policy.maxDelayMs);
  }
}
