import { VIOLATION_CLASSES } from '../check/index.js';
import type { ChaosResult } from './harness.js';

/** The run's summary table (Markdown), then each violation kept. */
export function formatSummary(result: ChaosResult): string {
  const { report } = result;
  const lines = [
    '',
    `| what | count |`,
    `| --- | ---: |`,
    `| appends acknowledged | ${report.summary.appends.ok} |`,
    `| appends failed (definite: expected-count conflicts) | ${report.summary.appends.failed} |`,
    `| appends of unknown outcome (written / not) | ${report.summary.appends.unknown}` +
      ` (${report.summary.unknownWritten} / ${report.summary.appends.unknown - report.summary.unknownWritten}) |`,
    `| events in the log after healing | ${report.summary.finalEvents} |`,
    `| events observed by readers | ${report.summary.eventsObserved} |`,
    ...Object.entries(result.faults).map(([kind, count]) => `| faults: ${kind} | ${count} |`),
    ...VIOLATION_CLASSES.map((cls) => `| violations: ${cls} | ${report.byClass[cls]} |`),
    `| replicas byte-identical after healing | ${result.converged ? 'yes' : 'NO'} |`,
    `| nodes disagreeing with the log on a stream's lifecycle | ${result.lifecycleViolations.length} |`,
    `| longest time without an acknowledged append | ${(result.longestOutageMs / 1000).toFixed(1)}` +
      ` s (from ${(result.longestOutageAt / 1000).toFixed(0)} s) |`,
    '',
    `${passed(result) ? 'PASS' : 'FAIL'} in` + ` ${result.seconds.toFixed(0)} s; history in ${result.historyFile}`,
  ];
  for (const violation of report.violations) lines.push(`  ${violation.class}: ${violation.detail}`);
  for (const violation of result.lifecycleViolations) lines.push(`  ${violation}`);
  return lines.join('\n');
}

/** No violation, replicas identical, every node agreeing on every stream's lifecycle. */
export function passed(result: ChaosResult): boolean {
  return result.report.valid && result.converged && result.lifecycleViolations.length === 0;
}
