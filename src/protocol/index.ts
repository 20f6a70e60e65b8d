/** Ordo's wire protocol (docs/protocol.md): one versioned frame format for TCP and WebSocket. */
export * from './constants.js';
export * from './bytes.js';
export * from './frame.js';
export * from './events.js';
export * from './requests.js';
export * from './lifecycle-requests.js';
export * from './responses.js';
export * from './websocket.js';
export * from './raft-messages.js';
