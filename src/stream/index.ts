/**
 * `ordo/stream`: the in-process EventStream, one publisher to many subscribers, on which the live
 * tail and models are built. Depends on nothing else in Ordo.
 */
export { EventStream, StreamSubscription, EMPTY, DONE, type StreamNode } from './event-stream.js';
