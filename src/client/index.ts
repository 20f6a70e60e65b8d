export { connect, type NodeConnectOptions } from './connect.js';
export { RemoteEventLog, type ConnectOptions } from './remote-log.js';
export { RemoteSubscription } from './remote-subscription.js';
export { parseUrls } from './urls.js';
export type { ClientTransport, TransportFactory, TransportHandlers } from './transport.js';
