#!/usr/bin/env node
// `npm run cluster`: three `ordo serve` nodes on loopback, for trying replication by hand.
// Data under ./ordo-cluster/<id>; Ctrl-C stops all three (SIGTERM: each drains and closes).
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(process.argv[2] ?? './ordo-cluster');
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const nodes = [
  { id: 'n1', port: 4680, httpPort: 4681 },
  { id: 'n2', port: 4690, httpPort: 4691 },
  { id: 'n3', port: 4700, httpPort: 4701 },
];
const peers = nodes.map((n) => `${n.id}=127.0.0.1:${n.port}`).join(',');
const children = nodes.map((node) => {
  const dir = join(root, node.id);
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      cli,
      'serve',
      '--dir',
      dir,
      '--node-id',
      node.id,
      '--peers',
      peers,
      '--port',
      String(node.port),
      '--http-port',
      String(node.httpPort),
      '--log-level',
      'warn',
    ],
    {
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  );
  child.stderr
    .setEncoding('utf8')
    .on('data', (text) => process.stderr.write(text.replace(/^(?=.)/gm, `[${node.id}] `)));
  child.on('exit', (code, signal) => console.error(`[${node.id}] exited (${signal ?? code})`));
  return child;
});
console.error(
  `\nA 3-node Ordo cluster on loopback (data in ${root}):\n` +
    `  connect: ordo://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}\n` +
    `  status:  npx ordo cluster status --http http://127.0.0.1:${nodes[0].httpPort}\n` +
    `  kill one (kill -9 <pid>: ${children.map((c, i) => `${nodes[i].id}=${c.pid}`).join(' ')})` +
    ` and watch another take over.\n`,
);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.all(
  children.map((child) => new Promise((done) => (child.exitCode !== null ? done() : child.once('exit', done)))),
);
