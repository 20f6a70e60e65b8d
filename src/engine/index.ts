export * from './state.js';
export * from './decide.js';
export * from './id-window.js';
export * from './stream-state.js';
export * from './checkpoint.js';
export { invariantFailed } from './assert.js';
export * from './lifecycle.js';
