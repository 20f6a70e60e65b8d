import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fmt, type BenchRow } from './report.js';
import type { LatencyCurve } from './compare.js';

const WIDTH = 960;
const BAR_PANEL_HEIGHT = 420;
const CDF_PANEL_HEIGHT = 360;
const COLORS: Record<string, string> = {
  Ordo: '#2563eb',
  'Ordo 3-node cluster': '#93c5fd',
  JetStream: '#f59e0b',
  'JetStream (sync always)': '#10b981',
};
const FALLBACK_COLOR = '#6b7280';
const RATE_DASH: Record<number, string> = { 10_000: '', 50_000: '6 4' };

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The comparison as one SVG: throughput bars per workload (log scale: the systems differ by
 * orders of magnitude) and the end-to-end latency distribution of each system at each rate
 * (x: the percentile, on a scale that spreads out the tail; y: ms, log scale).
 */
export function writeCompareChart(file: string, rows: BenchRow[], curves: LatencyCurve[], title: string): void {
  const throughput = rows.filter((row) => row.unit.endsWith('/s') && !row.name.includes('conflicts'));
  // Row names are `<workload>: <system>` (a workload may hold ': ' itself).
  const workloadOf = (row: BenchRow) => row.name.slice(0, row.name.lastIndexOf(': '));
  const systemOf = (row: BenchRow) => row.name.slice(row.name.lastIndexOf(': ') + 2);
  const workloads = [...new Set(throughput.map(workloadOf))];
  const systems = [...new Set(throughput.map(systemOf))];
  const parts: string[] = [];
  parts.push(
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="18" font-weight="600">${escapeXml(title)}</text>`,
  );

  // Panel 1: bars.
  const left = 300;
  const right = WIDTH - 40;
  const top = 60;
  const rowHeight = (BAR_PANEL_HEIGHT - top - 30) / Math.max(1, workloads.length);
  const values = throughput.map((row) => row.value).filter((v) => v > 0);
  const lowExp = Math.floor(Math.log10(Math.min(...values)));
  const highExp = Math.ceil(Math.log10(Math.max(...values)));
  const x = (value: number) =>
    left + ((Math.log10(Math.max(value, 10 ** lowExp)) - lowExp) / Math.max(1, highExp - lowExp)) * (right - left);
  for (let e = lowExp; e <= highExp; e++) {
    parts.push(
      `<line x1="${x(10 ** e)}" y1="${top - 8}" x2="${x(10 ** e)}" y2="${BAR_PANEL_HEIGHT - 30}" stroke="#e5e7eb"/>`,
    );
    parts.push(
      `<text x="${x(10 ** e)}" y="${BAR_PANEL_HEIGHT - 14}" text-anchor="middle"` +
        ` font-size="11" fill="#6b7280">${fmt(10 ** e)}/s</text>`,
    );
  }
  workloads.forEach((workload, w) => {
    const y0 = top + w * rowHeight;
    parts.push(
      `<text x="${left - 8}" y="${y0 + rowHeight / 2 + 4}"` +
        ` text-anchor="end" font-size="12">${escapeXml(workload)}</text>`,
    );
    const barHeight = (rowHeight - 8) / systems.length;
    systems.forEach((system, s) => {
      const row = throughput.find((r) => r.name === `${workload}: ${system}`);
      if (!row) return;
      const y = y0 + 4 + s * barHeight;
      parts.push(
        `<rect x="${left}" y="${y}" width="${Math.max(1, x(row.value) - left)}"` +
          ` height="${barHeight - 2}" fill="${COLORS[system] ?? FALLBACK_COLOR}"/>`,
      );
      parts.push(
        `<text x="${x(row.value) + 4}" y="${y + barHeight / 2 + 3}"` +
          ` font-size="10" fill="#374151">${fmt(row.value)}</text>`,
      );
    });
  });

  // Panel 2: latency distribution.
  const cTop = BAR_PANEL_HEIGHT + 50;
  const cBottom = BAR_PANEL_HEIGHT + CDF_PANEL_HEIGHT - 40;
  const cLeft = 80;
  const cRight = WIDTH - 220;
  parts.push(
    `<text x="${(cLeft + cRight) / 2}" y="${cTop - 20}" text-anchor="middle" font-size="14"` +
      ` font-weight="600">end-to-end latency (publish → live subscriber), by percentile</text>`,
  );
  // x: -log10(1 - p/100), so 90, 99, 99.9 are evenly spaced; 100 is drawn at 99.99's right.
  const tail = (p: number) => -Math.log10(Math.max(1 - p / 100, 1e-5));
  const px = (p: number) => cLeft + (tail(p) / 5) * (cRight - cLeft);
  const millis = curves.flatMap((c) => c.points.map(([, ms]) => ms)).filter((ms) => ms > 0);
  const yLow = Math.floor(Math.log10(Math.min(...millis, 0.1)));
  const yHigh = Math.ceil(Math.log10(Math.max(...millis, 1)));
  const py = (ms: number) =>
    cBottom - ((Math.log10(Math.max(ms, 10 ** yLow)) - yLow) / Math.max(1, yHigh - yLow)) * (cBottom - cTop);
  for (const p of [0, 90, 99, 99.9, 99.99]) {
    parts.push(
      `<line x1="${px(p)}" y1="${cTop}" x2="${px(p)}" y2="${cBottom}" stroke="#e5e7eb"/><text` +
        ` x="${px(p)}" y="${cBottom + 16}" text-anchor="middle" font-size="11" fill="#6b7280">p${p}</text>`,
    );
  }
  for (let e = yLow; e <= yHigh; e++) {
    parts.push(
      `<line x1="${cLeft}" y1="${py(10 ** e)}" x2="${cRight}" y2="${py(10 ** e)}" stroke="#e5e7eb"/><text` +
        ` x="${cLeft - 6}" y="${py(10 ** e) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${fmt(10 ** e)}` +
        ` ms</text>`,
    );
  }
  curves.forEach((curve, i) => {
    const path = curve.points
      .map(([p, ms], k) => `${k === 0 ? 'M' : 'L'}${px(p).toFixed(1)},${py(ms).toFixed(1)}`)
      .join(' ');
    const color = COLORS[curve.system] ?? FALLBACK_COLOR;
    parts.push(
      `<path d="${path}" fill="none" stroke="${color}" stroke-width="2"` +
        ` stroke-dasharray="${RATE_DASH[curve.rate] ?? '2 2'}"/>`,
    );
    const ly = cTop + 10 + i * 18;
    parts.push(
      `<line x1="${cRight + 20}" y1="${ly}" x2="${cRight + 50}" y2="${ly}" stroke="${color}" stroke-width="2"` +
        ` stroke-dasharray="${RATE_DASH[curve.rate] ?? '2 2'}"/><text x="${cRight + 56}" y="${ly + 4}"` +
        ` font-size="11">${escapeXml(`${curve.system}, ${fmt(curve.rate)}/s`)}</text>`,
    );
  });

  // Legend for the bars.
  systems.forEach((system, s) => {
    parts.push(
      `<rect x="${40 + s * 200}" y="40" width="12" height="12" fill="${COLORS[system] ?? FALLBACK_COLOR}"/><text` +
        ` x="${58 + s * 200}" y="50" font-size="12">${escapeXml(system)}</text>`,
    );
  });

  const height = BAR_PANEL_HEIGHT + CDF_PANEL_HEIGHT;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}"` +
    ` viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, svg);
}
