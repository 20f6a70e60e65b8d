/** `npm run example:newsfeed [-- --port 8080 --dir ./newsfeed-data]`: the feed's page and its Ordo server. */
import { parseArgs } from 'node:util';
import { startNewsfeed } from './newsfeed.js';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '8080' }, dir: { type: 'string', default: './newsfeed-data' } },
});
const feed = await startNewsfeed({ dir: values.dir!, port: Number(values.port) });
console.log(`newsfeed page   ${feed.url}   (open it in two tabs, post in one)`);
console.log(
  `Ordo server     ${feed.ordo.urls.tcp}   (post from a terminal: npx ordo append feed -t Posted --data '{"text":"hi"}' --url ${feed.ordo.urls.tcp})`,
);
const stop = () => void feed.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
