/**
 * The raw TCP req/ack reference for the remote benchmarks, run in its own process like the
 * Ordo server: it reads length-prefixed frames and answers each with a 36-byte ack (the size
 * of Ordo's APPEND_OK), coalescing the acks of one read into one write. No log, no decoding:
 * what a Node process can do on this machine's loopback, per request.
 *
 *   node dist/bench/tcp-peer.js   → prints its port, serves until killed
 */
import { createServer } from 'node:net';

const ACK_BYTES = 36;

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let bytes = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let at = 0;
    let frames = 0;
    while (bytes.length - at >= 4) {
      const length = bytes.readUInt32LE(at);
      if (bytes.length - at < 4 + length) break;
      at += 4 + length;
      frames++;
    }
    if (at < bytes.length) pending = bytes.subarray(at);
    if (frames > 0) {
      const acks = Buffer.alloc(frames * ACK_BYTES);
      for (let i = 0; i < frames; i++) acks.writeUInt32LE(ACK_BYTES - 4, i * ACK_BYTES);
      socket.write(acks);
    }
    bytes = Buffer.alloc(0);
  });
  socket.on('error', () => undefined);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(typeof address === 'object' && address ? address.port : 0);
});
