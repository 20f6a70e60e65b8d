/** `ordo/stream`: the in-process EventStream of seed 000. Depends on nothing else in Ordo. */
export { EventStream, StreamSubscription, EMPTY, DONE, type StreamNode } from './event-stream.js';
