/** Patterns built on the EventLog interface only: they work the same embedded and remote. */
export { fold, type FoldOptions, type Folded } from './fold.js';
export { toDomainEvent, type Decider, type DomainEvent } from './decider.js';
export { handleCommand, DEFAULT_COMMAND_RETRIES, type CommandResult } from './command.js';
export { deciderSpec } from './spec.js';
export {
  consume,
  checkpointStream,
  type Consumer,
  type ConsumerOptions,
  type ConsumerState,
  type ConsumerStatus,
  type RetryPolicy,
} from './consumer.js';
export { transform, outputId, type Transform, type TransformOptions } from './transform.js';
export {
  defineModel,
  isModelDefinition,
  openModel,
  snapshotId,
  snapshotStream,
  ModelNotReadyError,
  type Model,
  type ModelChange,
  type ModelDefinition,
  type AnyModelDefinition,
  type ModelState,
  type ModelStatus,
} from './model.js';
