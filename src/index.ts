/** Public API. */
export { createBroker, brokerVersion } from './broker.js';
export type { Broker, BrokerOptions, ListenerAddress } from './broker.js';
export type { BrokerConfig } from './config/types.js';
export { DEFAULT_CONFIG } from './config/defaults.js';
