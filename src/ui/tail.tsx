import { useEffect, useRef, useState } from 'preact/hooks';
import { eventSource, type EventJson } from './api';
import { EventTable } from './event-view';

/** Events kept on screen. */
const SHOWN = 200;

export function Tail() {
  const [prefix, setPrefix] = useState('');
  const [applied, setApplied] = useState('');
  const [paused, setPaused] = useState(false);
  const [events, setEvents] = useState<EventJson[]>([]);
  const [rate, setRate] = useState(0);
  const [total, setTotal] = useState(0);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  useEffect(() => {
    const query = new URLSearchParams({ from: 'end' });
    if (applied) query.set('prefixes', applied);
    const source = eventSource(`/subscribe?${query}`);
    let counted = 0;
    let windowStart = performance.now();
    let windowCount = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      setRate((windowCount * 1000) / (now - windowStart));
      windowCount = 0;
      windowStart = now;
      setTotal(counted);
    }, 1000);
    source.addEventListener('event', (message) => {
      counted++;
      windowCount++;
      if (pausedRef.current) return;
      const event = JSON.parse((message as MessageEvent<string>).data) as EventJson;
      setEvents((list) => [event, ...list].slice(0, SHOWN));
    });
    return () => {
      clearInterval(timer);
      source.close();
    };
  }, [applied]);
  return (
    <section>
      <h2>Live tail</h2>
      <form class="inline" onSubmit={(e) => (e.preventDefault(), setApplied(prefix), setEvents([]))}>
        <input
          placeholder="stream prefix (empty: the whole log)"
          value={prefix}
          onInput={(e) => setPrefix((e.target as HTMLInputElement).value)}
        />
        <button type="submit">follow</button>
        <button type="button" class={paused ? 'active' : ''} onClick={() => setPaused(!paused)}>
          {paused ? 'resume' : 'pause'}
        </button>
      </form>
      <p class="muted" data-rate>
        {rate.toFixed(1)} events/s · {total} since opened{paused ? ' · paused: counting, not showing' : ''}
      </p>
      <EventTable events={events} />
    </section>
  );
}
