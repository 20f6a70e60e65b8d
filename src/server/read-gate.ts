import type { Wire } from './wire.js';

/**
 * Whether the server reads a connection's incoming bytes: paused while the client has too many
 * requests in flight or does not read its answers, resumed once `canResume` says both eased.
 */
export class ReadGate {
  private isPaused = false;

  constructor(
    private readonly wire: Wire,
    private readonly canResume: () => boolean,
  ) {}

  get paused(): boolean {
    return this.isPaused;
  }

  pause(): void {
    if (this.isPaused) return;
    this.isPaused = true;
    this.wire.pause();
  }

  resume(): void {
    if (!this.isPaused || !this.canResume()) return;
    this.isPaused = false;
    this.wire.resume();
  }
}
