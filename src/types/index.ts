export * from './errors.js';
export * from './event.js';
export * from './uuid.js';
export * from './validate.js';
