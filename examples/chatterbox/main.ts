/**
 * `npm run example:chatterbox -- server [--dir ./chatterbox-data]` starts the chat server;
 * `npm run example:chatterbox -- client --name ada [--room lobby]` a terminal client
 * (type a line to say it; /quit to leave). Start the server again after stopping it: clients
 * reconnect by themselves and carry on with the same room.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../../src/index.js';
import { joinRoom } from './room.js';
import { startChatServer } from './server.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: './chatterbox-data' },
    name: { type: 'string' },
    room: { type: 'string', default: 'lobby' },
    url: { type: 'string', default: 'ordo://127.0.0.1:4690' },
  },
});

if (positionals[0] === 'server') {
  const server = await startChatServer({ dir: values.dir! });
  console.log(`chatterbox server on ${server.urls.tcp} (console: ${server.urls.http}/)`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else if (positionals[0] === 'client' && values.name) {
  const log = await connect(values.url!);
  const session = await joinRoom(log, values.room!, values.name);
  let shown = session.room.state.messages.length;
  let members = session.room.state.members.join(', ');
  console.log(`in ${values.room} with ${members}`);
  for (const message of session.room.state.messages) console.log(`${message.from}: ${message.text}`);
  session.room.onChange(({ state }) => {
    for (const message of state.messages.slice(shown)) console.log(`${message.from}: ${message.text}`);
    shown = state.messages.length;
    if (state.members.join(', ') !== members)
      console.log(`* now here: ${(members = state.members.join(', ')) || 'nobody'}`);
  });
  let quiet: NodeJS.Timeout | undefined;
  session.onTyping((user) => {
    process.stdout.write(`\r${user} is typing…`);
    clearTimeout(quiet);
    quiet = setTimeout(() => process.stdout.write('\r\x1b[K'), 1500);
  });
  const input = createInterface({ input: process.stdin });
  process.stdin.on('keypress', () => void session.typing());
  input.on('line', (line) => {
    if (line.trim() === '/quit')
      void session
        .leave()
        .then(() => log.close())
        .then(() => process.exit(0));
    else if (line.trim() !== '') void session.say(line);
  });
} else {
  console.error('usage: example:chatterbox -- server [--dir D] | client --name N [--room R] [--url U]');
  process.exit(2);
}
