#!/usr/bin/env node
// raft/ and engine/ are pure state machines (docs/architecture.md): besides the imports that
// dependency-cruiser checks, they must not read the clock, call Math.random or start timers.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const forbidden = [
  [/\bDate\.now\s*\(/, 'reads the clock (Date.now)'],
  [/\bnew Date\s*\(/, 'reads the clock (new Date)'],
  [/\bperformance\.now\s*\(/, 'reads the clock (performance.now)'],
  [/\bprocess\.hrtime/, 'reads the clock (process.hrtime)'],
  [/\bMath\.random\s*\(/, 'uses unseeded randomness (Math.random)'],
  [/\bcrypto\.(randomUUID|getRandomValues|randomBytes)/, 'uses unseeded randomness (crypto)'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'schedules work (timers)'],
  [/\bprocess\.(env|argv|exit)/, 'reads the process environment'],
];

function* files(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (path.endsWith('.ts')) yield path;
  }
}

const problems = [];
const root = process.argv[2] ?? '.';
for (const dir of ['src/raft', 'src/engine'].map((d) => join(root, d))) {
  for (const file of files(dir)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      for (const [pattern, what] of forbidden)
        if (pattern.test(code)) problems.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    });
  }
}
if (problems.length > 0) {
  console.error(`pure cores check failed (${problems.length}):\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('pure cores check: raft/ and engine/ read no clock, no randomness, no timers');
