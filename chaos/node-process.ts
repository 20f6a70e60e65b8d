import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Starts retried when the port is in use, and the wait between them. */
const START_ATTEMPTS = 20;
const START_RETRY_MS = 250;

/**
 * One `ordo serve` process of the chaos cluster: started, killed with SIGKILL, paused with
 * SIGSTOP and resumed, restarted on the same directory and ports.
 */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  paused = false;
  /** Set when the process exited without being killed or stopped (a crash): its code and stderr tail. */
  crashed: string | undefined;
  private stopping = false;
  /** The tail of its stderr, for a report when it dies on its own. */
  stderr = '';

  constructor(
    readonly id: string,
    private readonly args: string[],
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts the process; resolves once it serves (its startup lines name the TCP address). A
   * port taken meanwhile (an outgoing connection may get it as its source port while the node
   * is down) is retried a few times. `extraArgs` are for this start only (`--join`).
   */
  async start(extraArgs: readonly string[] = []): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.startOnce(extraArgs);
        return;
      } catch (error) {
        if (!/EADDRINUSE/.test((error as Error).message) || attempt >= START_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS));
      }
    }
  }

  private async startOnce(extraArgs: readonly string[]): Promise<void> {
    if (this.child) return;
    const child = spawn(process.execPath, [CLI, 'serve', ...this.args, ...extraArgs, '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.stopping = false;
    this.paused = false;
    this.stderr = '';
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let serving = false;
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        this.stderr = (this.stderr + chunk.toString()).slice(-4000);
        if (/binary protocol \(TCP\)/.test(this.stderr)) {
          serving = true;
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        // One that never served failed to start (start() reports that, or retries a taken port).
        if (serving && !this.stopping)
          this.crashed ??= `${this.id} exited on its own (${code ?? signal}): ${this.stderr.slice(-1500)}`;
        reject(new Error(`${this.id} exited (${code ?? signal}) before serving: ${this.stderr}`));
      });
    });
  }

  /** kill -9: no shutdown, whatever was not fsynced is the disk's business. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    if (this.paused) child.kill('SIGCONT');
    child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
    this.paused = false;
  }

  pause(): void {
    if (!this.child || this.paused) return;
    this.child.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.child || !this.paused) return;
    this.child.kill('SIGCONT');
    this.paused = false;
  }

  /** Graceful stop (SIGTERM), for the end of a run. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    this.resume();
    child.kill('SIGTERM');
    await this.exited;
    this.child = undefined;
  }
}
