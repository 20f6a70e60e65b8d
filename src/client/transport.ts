/**
 * A byte pipe to one server, opened by a transport factory. TCP (Node) and WebSocket (Node and
 * browsers) implement it; the client above sees only bytes.
 */
export interface ClientTransport {
  send(bytes: Uint8Array): void;
  close(): void;
}

export interface TransportHandlers {
  onData(bytes: Uint8Array): void;
  /** The pipe closed or failed; `error` says why when it was not a clean close. */
  onClose(error: Error | undefined): void;
}

/** Opens a pipe to `url`; resolves once it is open (before the protocol handshake). */
export type TransportFactory = (url: URL, handlers: TransportHandlers) => Promise<ClientTransport>;
