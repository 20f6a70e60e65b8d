import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** How long a test waits for a server process to print its addresses. */
const START_TIMEOUT_MS = 10_000;

export interface ServerProcess {
  child: ChildProcess;
  urls: { tcp: string; ws: string; http: string };
  /** Ports to restart on, so clients find the server again. */
  port: number;
  httpPort: number;
  stderr(): string;
}

/** Starts `ordo serve` in its own process (a real server a test can kill -9). */
export async function startServerProcess(
  dir: string,
  options: { port?: number; httpPort?: number; args?: string[] } = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--dir',
      dir,
      '--port',
      String(options.port ?? 0),
      '--http-port',
      String(options.httpPort ?? 0),
      '--log-level',
      'warn',
      ...(options.args ?? []),
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const urls = await new Promise<ServerProcess['urls']>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)),
      START_TIMEOUT_MS,
    );
    const check = () => {
      const tcp = /binary protocol \(TCP\)\s+(\S+)/.exec(stderr)?.[1];
      const ws = /binary over WebSocket\s+(\S+)/.exec(stderr)?.[1];
      const http = /HTTP API\s+(\S+)/.exec(stderr)?.[1];
      if (tcp && ws && http) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve({ tcp, ws, http });
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before starting: ${stderr}`));
    });
  });
  return {
    child,
    urls,
    port: Number(new URL(urls.tcp).port),
    httpPort: Number(new URL(urls.http).port),
    stderr: () => stderr,
  };
}

export async function killHard(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

export async function stopGracefully(server: ServerProcess): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
  server.child.kill('SIGTERM');
  return exited;
}
