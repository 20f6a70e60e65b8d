/**
 * The newsfeed page: load the feed's history up to its current version, then follow
 * live from exactly that version, over WebSocket with the browser client (`ordo/client`).
 * A reload does the same again: the page never shows a gap or a duplicate.
 */
import { connect } from '../../../src/client/browser.js';

const FEED = 'feed';
const list = document.getElementById('items') as HTMLOListElement;
const status = document.getElementById('status') as HTMLParagraphElement;
const form = document.getElementById('post') as HTMLFormElement;
const input = document.getElementById('text') as HTMLInputElement;
const decoder = new TextDecoder();

function show(index: number, data: Uint8Array): void {
  const { text } = JSON.parse(decoder.decode(data)) as { text: string };
  const item = document.createElement('li');
  item.dataset.index = String(index);
  item.textContent = text;
  list.append(item);
}

const wsUrl = (document.querySelector('meta[name=ordo-ws]') as HTMLMetaElement).content;
const log = await connect(wsUrl);
// The version: the stream's count at the cut. History is everything before it, live everything after.
const { count, history, live } = await log.readAndSubscribe(FEED);
for (const event of history) show(event.index, event.data);
status.textContent = `loaded ${count} items (version ${count}); following live`;
status.dataset.version = String(count);
form.addEventListener('submit', (e) => {
  e.preventDefault();
  void log.append(FEED, { type: 'Posted', data: { text: input.value } });
  input.value = '';
});
for await (const event of live) {
  if ('transient' in event) continue;
  show(event.index, event.data);
}
