import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const INSTALL_SCRIPT = fileURLToPath(new URL('../../scripts/install-nats-server.sh', import.meta.url));
/** How long nats-server may take to say it is ready. */
const START_TIMEOUT_MS = 10_000;

export interface NatsServer {
  url: string;
  pid: number;
  version: string;
  /** Whether this nats-server knows `sync_interval: always` (fsync before every ack); asked for with `syncAlways`. */
  syncAlways: boolean;
  stop(): Promise<void>;
}

/** nats-server on PATH, installed from Debian by scripts/install-nats-server.sh if missing. */
export function ensureNatsServer(): string {
  const found = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return versionOf(found.stdout);
  execFileSync('sh', [INSTALL_SCRIPT], { stdio: ['ignore', 'inherit', 'inherit'] });
  return versionOf(execFileSync('nats-server', ['--version'], { encoding: 'utf8' }));
}

/** `nats-server: v2.9.10` → `2.9.10`. */
function versionOf(text: string): string {
  return /v?(\d+\.\d+\.\d+)/.exec(text)?.[1] ?? text.trim();
}

/** Whether this nats-server accepts `jetstream { sync_interval: always }` (added after 2.9). */
export function supportsSyncAlways(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'probe.conf');
  writeFileSync(
    config,
    `jetstream { store_dir: ${JSON.stringify(join(dir, 'probe-store'))}, sync_interval: always }\n`,
  );
  const result = spawnSync('nats-server', ['-c', config, '-t'], { encoding: 'utf8', timeout: 5_000 });
  return result.status === 0;
}

/** Starts nats-server with JetStream on loopback, a fresh store in `dir`; stopped by its PID. */
export async function startNatsServer(dir: string, options: { syncAlways?: boolean } = {}): Promise<NatsServer> {
  const version = ensureNatsServer();
  const syncAlways = options.syncAlways === true && supportsSyncAlways(dir);
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'nats.conf');
  writeFileSync(
    config,
    `listen: 127.0.0.1:${port}\nmax_payload: 8MB\njetstream {\n  store_dir:` +
      ` ${JSON.stringify(join(dir, 'store'))}\n${syncAlways ? '  sync_interval: always\n' : ''}}\n`,
  );
  const child: ChildProcess = spawn('nats-server', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not start within ${START_TIMEOUT_MS} ms: ${text}`)),
      START_TIMEOUT_MS,
    );
    child.stderr!.on('data', (chunk: Buffer) => {
      text = (text + chunk.toString()).slice(-8000);
      if (/Server is ready/.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}: ${text}`));
    });
  });
  const pid = child.pid!;
  return {
    url: `nats://127.0.0.1:${port}`,
    pid,
    version,
    syncAlways,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        process.kill(pid, 'SIGTERM');
      }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
