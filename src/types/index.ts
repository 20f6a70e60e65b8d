export * from './errors.js';
export * from './event.js';
export * from './uuid.js';
export * from './validate.js';
export type { Claim } from './claims.js';
export { MAX_CLAIM_CHANGES, MAX_CLAIM_SET_BYTES, MAX_CLAIM_VALUE_BYTES } from './claims.js';
export * from './stream-metadata.js';
