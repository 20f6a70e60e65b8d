/**
 * Bytes per WebSocket message at most. What one side writes in a turn can add up to more than
 * the other accepts in one message; frames may be split across messages (docs/protocol.md).
 */
export const WS_MESSAGE_BYTES = 1024 * 1024;

/** Sends `bytes` as messages of at most WS_MESSAGE_BYTES. */
export function sendInMessages(send: (bytes: Uint8Array) => void, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.byteLength; at += WS_MESSAGE_BYTES)
    send(bytes.subarray(at, Math.min(at + WS_MESSAGE_BYTES, bytes.byteLength)));
}
