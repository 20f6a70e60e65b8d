import { useState } from 'preact/hooks';
import type { LogMetrics } from '../types/log-metrics.js';
import { api, errorText, type ScavengeResultJson } from './api';
import { Card, formatBytes } from './card';

/**
 * Scavenging on the overview: what it reclaimed since the server started, the pass under way,
 * erasures whose bytes this node still has to remove, and (for an admin) a scavenge now.
 */
export function Scavenging({ log, canAdmin }: { log: LogMetrics; canAdmin: boolean }) {
  const running = log.scavengePassProgress > 0;
  return (
    <div class="scavenge" data-pending={log.erasuresPending}>
      <h3>Scavenging</h3>
      <div class="cards">
        <Card label="events removed (holes)" value={log.scavengeHoles} />
        <Card label="bytes reclaimed" value={formatBytes(log.scavengeBytesReclaimed)} />
        <Card label="passes" value={log.scavengePasses} />
        <Card label="pass under way" value={running ? `${Math.floor(log.scavengePassProgress * 100)}%` : 'none'} />
        <Card
          label="erasures pending"
          value={log.erasuresPending}
          {...(log.erasuresPending > 0 ? { class: 'warning' } : {})}
        />
      </div>
      {canAdmin && <ScavengeNow />}
    </div>
  );
}

/** POST /admin/scavenge, and what it did. */
function ScavengeNow() {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const run = async () => {
    setBusy(true);
    try {
      const result = await api<ScavengeResultJson>('/admin/scavenge', { method: 'POST' });
      setOutcome({ ok: true, text: resultText(result) });
    } catch (error) {
      setOutcome({ ok: false, text: errorText(error) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <p>
      <button type="button" name="scavenge" disabled={busy} onClick={() => void run()}>
        {busy ? 'scavenging…' : 'Scavenge now'}
      </button>
      {outcome && (
        <span class={`result ${outcome.ok ? 'ok' : 'error'}`} data-scavenge-result>
          {outcome.text}
        </span>
      )}
    </p>
  );
}

function resultText(result: ScavengeResultJson): string {
  const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
  return (
    `scavenged: ${plural(result.streams, 'stream')} newly trimmed, ` +
    `${plural(result.segmentsRewritten, 'segment')} rewritten, ${plural(result.holes, 'hole')}, ` +
    `${formatBytes(result.bytesReclaimed)} reclaimed`
  );
}
