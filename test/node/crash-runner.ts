import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { open } from '../../src/node/index.js';
import type { Event } from '../../src/types/index.js';

const child = fileURLToPath(new URL('./crash-child.js', import.meta.url));

export interface Ack {
  id: string;
  stream: string;
  position: number;
  index: number;
}

/**
 * Runs crash-child.ts on `dir` until it dies: killed by us once it has acknowledged
 * `killAfterAcks` appends, or by itself (`die-after=`). Returns its acknowledgements and, with
 * `report-syncs`, what each segment file had made durable.
 */
export async function runCrashChild(
  dir: string,
  run: number,
  options: { killAfterAcks?: number; flags?: string[] },
): Promise<{ acks: Ack[]; durable: Map<string, number> }> {
  const process = spawn('node', [child, dir, String(run), ...(options.flags ?? [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const acks: Ack[] = [];
  const durable = new Map<string, number>();
  let buffered = '';
  process.stdout.setEncoding('utf8');
  process.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('ack ')) {
        acks.push(JSON.parse(line.slice(4)) as Ack);
        if (options.killAfterAcks !== undefined && acks.length === options.killAfterAcks) process.kill('SIGKILL');
      } else if (line.startsWith('sync ')) {
        const at = line.lastIndexOf(' ');
        durable.set(line.slice(5, at), Number(line.slice(at + 1)));
      }
    }
  });
  // 'close', not 'exit': every line it wrote before it died must be read.
  const closed = new Promise<void>((resolve) => process.once('close', () => resolve()));
  const timer = setTimeout(() => process.kill('SIGKILL'), 20_000);
  await closed;
  clearTimeout(timer);
  const wanted =
    options.killAfterAcks ?? Number(options.flags?.find((f) => f.startsWith('die-after='))?.slice(10) ?? 1);
  assert.ok(acks.length >= wanted, `the child acknowledged only ${acks.length} appends in 20 s`);
  return { acks, durable };
}

/** Reopens `dir`: every acknowledged append is at its position, without gaps or duplicates; it takes appends again. */
/**
 * Every acknowledged append is there, once, at its place, and the log takes appends after what
 * it recovered. `hiding`: stream metadata hides some events, so readers see gaps in positions.
 */
export async function checkAcknowledged(
  dir: string,
  acknowledged: readonly Ack[],
  after: string,
  hiding = false,
): Promise<void> {
  const log = await open(dir);
  try {
    const byPosition = new Map<number, Event>();
    for await (const event of log.readAll()) byPosition.set(event.position, event);
    // What retention removed (whole segments before the log's start) is not owed; the rest is.
    const first = log.firstPosition;
    for (const ack of acknowledged) {
      if (ack.position < first) continue;
      const event = byPosition.get(ack.position);
      assert.ok(event, `acknowledged append at position ${ack.position} is missing after ${after}`);
      assert.equal(event.id, ack.id);
      assert.equal(event.stream, ack.stream);
      assert.equal(event.index, ack.index);
    }
    const positions = [...byPosition.keys()];
    if (!hiding)
      assert.deepEqual(
        positions,
        positions.map((_, i) => first + i),
        'positions have no gaps from the log start on',
      );
    const ids = [...byPosition.values()].map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no event is duplicated');
    const head = log.committedPosition;
    const next = await log.append('after', { type: 'T' });
    assert.equal(next.position, head + 1, 'it takes appends after the recovered prefix');
    if (!hiding) assert.equal(next.position, first + positions.length);
  } finally {
    await log.close();
  }
}
