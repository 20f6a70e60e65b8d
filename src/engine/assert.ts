export { invariantFailed } from '../types/invariant.js';
