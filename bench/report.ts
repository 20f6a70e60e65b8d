import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname } from 'node:path';

/** One measured figure. `ratio` compares it with a reference measured in the same run. */
export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  ratio?: { of: string; value: number };
  note?: string;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function printTable(rows: BenchRow[]): void {
  const cells = rows.map((row) => [
    row.group,
    row.name,
    formatNumber(row.value),
    row.unit,
    row.ratio ? `${row.ratio.value.toFixed(2)}× ${row.ratio.of}` : '',
    row.note ?? '',
  ]);
  const header = ['group', 'benchmark', 'value', 'unit', 'ratio', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

export function saveJson(rows: BenchRow[], file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const cpu = cpus()[0]?.model ?? 'unknown';
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: availableParallelism(), cpu, platform: process.platform, rows }, null, 2)}\n`,
  );
}

/** Events (or operations) per second for `count` done in `ms`. */
export function rate(count: number, ms: number): number {
  return (count * 1000) / ms;
}

export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function findRow(rows: BenchRow[], group: string, name: string): BenchRow | undefined {
  return rows.find((row) => row.group === group && row.name === name);
}
