export type { AppendOperation, AppendOutcome, History, ObservedEvent, ReadOperation } from './history.js';
export { checkHistory, VIOLATION_CLASSES, type CheckReport, type Violation, type ViolationClass } from './checker.js';
export { checkLifecycles } from './lifecycles.js';
