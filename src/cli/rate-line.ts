import type { WriteStream } from 'node:tty';

/** How often the rate line is redrawn. */
const RATE_INTERVAL_MS = 1_000;

/**
 * `tail -f`'s live rate line on stderr: events per second over the last interval and the last
 * position seen. On a terminal it redraws one line; otherwise it prints a line per interval.
 */
export class RateLine {
  private events = 0;
  private total = 0;
  private position = -1;
  private last = performance.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly out: NodeJS.WriteStream | WriteStream) {
    this.timer = setInterval(() => this.draw(), RATE_INTERVAL_MS);
    this.timer.unref();
  }

  count(position: number): void {
    this.events++;
    this.total++;
    this.position = position;
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.out.isTTY) this.out.write('\n');
  }

  private draw(): void {
    const now = performance.now();
    const rate = Math.round((this.events * 1000) / (now - this.last));
    this.last = now;
    this.events = 0;
    const line =
      `${rate.toLocaleString('en-US')} events/s · ` +
      `${this.total.toLocaleString('en-US')} events · position ${this.position}`;
    this.out.write(this.out.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
  }
}
