import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname } from 'node:path';

/**
 * One measured figure. `ratio` compares it with a reference measured in the same run, e.g.
 * `{ of: 'raw batch=1000', value: 0.72 }`, printed as "0.72× raw batch=1000".
 */
export type BenchRow = {
  group: string;
  name: string;
  value: number;
  unit: string;
  ratio?: { of: string; value: number };
  note?: string;
};

/**
 * A number for a table: thousands separators from 100 up (1,742,880), three significant digits
 * below (42.5, 3.14, 0.0123).
 */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 0.001) return String(Number(value.toPrecision(3)));
  return value.toExponential(2);
}

/** Same as `fmt` (the name the other benches import). */
export const formatNumber = fmt;

/** A ratio such as 0.72 or 12.3, printed with the `×` sign by `printTable`. */
export function fmtRatio(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 0.01) return value.toFixed(2);
  return value.toPrecision(2);
}

/** Prints `rows` as an aligned plain-text table (values right-aligned). */
export function printTable(rows: BenchRow[]): void {
  const header = ['group', 'benchmark', 'value', 'unit', 'ratio', 'note'];
  const cells = rows.map((row) => [
    row.group,
    row.name,
    fmt(row.value),
    row.unit,
    row.ratio ? `${fmtRatio(row.ratio.value)}× ${row.ratio.of}` : '',
    row.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((cell, i) => (i === 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  let group: string | undefined;
  for (const [i, c] of cells.entries()) {
    // The group name only on its first row, so groups read as blocks.
    const row = rows[i]!;
    console.log(line(row.group === group ? ['', ...c.slice(1)] : c));
    group = row.group;
  }
}

/**
 * Writes `{ date, node, cpus, cpu, platform, ...extra, rows }` to `file` (its directory is
 * created). Benches write under bench/results/.
 */
export function saveJson(rows: BenchRow[], file: string, extra: Record<string, unknown> = {}): void {
  mkdirSync(dirname(file), { recursive: true });
  const cpu = cpus()[0]?.model ?? 'unknown';
  const doc = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: availableParallelism(),
    cpu,
    platform: process.platform,
    ...extra,
    rows,
  };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Events (or operations) per second for `count` done in `ms`. */
export function rate(count: number, ms: number): number {
  return (count * 1000) / ms;
}

/** Milliseconds since `start` (a `process.hrtime.bigint()` reading). */
export function elapsedMs(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The `p`th percentile (0–100) of an ascending array; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function findRow(rows: BenchRow[], group: string, name: string): BenchRow | undefined {
  return rows.find((row) => row.group === group && row.name === name);
}

/** `rows` as a Markdown table (docs/performance.md quotes the comparison's). */
export function markdownTable(rows: BenchRow[]): string {
  const lines = ['| benchmark | value | unit | ratio | note |', '| --- | ---: | --- | --- | --- |'];
  for (const row of rows)
    lines.push(
      `| ${row.name} | ${fmt(row.value)} | ${row.unit} |` +
        ` ${row.ratio ? `${fmtRatio(row.ratio.value)}× ${row.ratio.of}` : ''} | ${row.note ?? ''} |`,
    );
  return `${lines.join('\n')}\n`;
}
