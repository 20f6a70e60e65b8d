/**
 * One competing transform instance for bench/transform.ts, in its own process (so that one
 * can be paused with SIGSTOP like a long GC pause): each input on `in` gives one output on
 * `out` carrying the input's sequence number.
 */
import { connect } from '../src/client/index.js';
import { transform } from '../src/patterns/index.js';
import { eventJson } from '../src/types/json.js';

const log = await connect(process.argv[2]!, { clientName: 'bench-transform' });
await transform(log, {
  name: 'out',
  filter: { streams: ['in'] },
  fn: (event, state: undefined) => ({
    state,
    events: [{ type: 'Out', data: { seq: eventJson<{ seq: number }>(event).seq } }],
  }),
});
process.stdout.write('ready\n');
