import type { Event, ReadConsistency, StreamInfo } from '../types/event.js';
import type { EventsPage } from './answers.js';

/**
 * What one page request of a paged read asks for. Only the first page is read at the asked
 * consistency and minimum position: the pages after it continue where the one before ended.
 */
export interface PageRequest {
  from: number | undefined;
  limit: number;
  consistency: ReadConsistency;
  minPosition: number | undefined;
}

/** Paged reads: the next page is requested as soon as one arrives, so the network overlaps the consumer. */
export function pagedEvents(
  limit: number,
  pageSize: number,
  fetchPage: (pageLimit: number) => Promise<EventsPage>,
): AsyncIterable<Event> {
  return {
    async *[Symbol.asyncIterator]() {
      let remaining = limit;
      let page = fetchPage(Math.min(remaining, pageSize));
      while (remaining > 0) {
        const { events, done } = await page;
        const take = Math.min(events.length, remaining);
        remaining -= take;
        const more = !done && remaining > 0;
        if (more) page = fetchPage(Math.min(remaining, pageSize));
        for (let i = 0; i < take; i++) yield events[i]!;
        if (!more) return;
      }
    },
  };
}

/** Stream listings, one page after another: each page starts after the last stream of the one before. */
export function streamPages(
  limit: number,
  pageSize: number,
  fetchPage: (after: string, pageLimit: number) => Promise<StreamInfo[]>,
): AsyncIterable<StreamInfo> {
  return {
    async *[Symbol.asyncIterator]() {
      let after = '';
      let remaining = limit;
      while (remaining > 0) {
        const asked = Math.min(remaining, pageSize);
        const page = await fetchPage(after, asked);
        for (const info of page) yield info;
        remaining -= page.length;
        if (page.length < asked) return;
        after = page[page.length - 1]!.stream;
      }
    },
  };
}
