import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { OrdoNode } from '../node/index.js';
import {
  consume,
  openModel,
  type Consumer,
  type ConsumerOptions,
  type ConsumerState,
  type ConsumerStatus,
  type AnyModelDefinition,
  type Model,
  type ModelState,
} from '../patterns/index.js';
import { InvalidArgumentError } from '../types/errors.js';

/** A hosted model writes its snapshots this often unless its definition says otherwise (events). */
export const HOSTED_SNAPSHOT_EVERY = 1_000;

const MODEL_STATES: readonly ModelState[] = ['loading', 'live', 'resuming', 'closed', 'failed'];
const CONSUMER_STATES: readonly ConsumerState[] = ['running', 'retrying', 'open', 'stopped', 'fenced', 'failed'];

export interface HostedPatterns {
  readonly models: ReadonlyMap<string, Model<unknown>>;
  readonly consumers: ReadonlyMap<string, Consumer>;
  /** Stops consumers (each writes its checkpoint) and closes models, before the log closes. */
  close(): Promise<void>;
}

/**
 * Models and consumers a server runs next to its log (`ordo serve --models/--consumers`): the
 * models stay hot and keep `$snapshots-<name>` fresh, so clients load a recent snapshot instead
 * of each replaying the log; both report state, position and lag in `/metrics`.
 */
export async function startHosted(
  log: OrdoNode,
  options: { models?: readonly AnyModelDefinition[]; consumers?: readonly ConsumerOptions[] },
  registry: Registry,
  logger: Logger,
): Promise<HostedPatterns> {
  const models = new Map<string, Model<unknown>>();
  const consumers = new Map<string, Consumer>();
  for (const definition of options.models ?? []) {
    if (models.has(definition.name))
      throw new InvalidArgumentError(
        `two hosted models are named ${JSON.stringify(definition.name)}: expected unique names`,
      );
    models.set(
      definition.name,
      openModel(log, definition, { snapshotEvery: definition.snapshotEvery ?? HOSTED_SNAPSHOT_EVERY }),
    );
  }
  for (const definition of options.consumers ?? []) {
    if (consumers.has(definition.name))
      throw new InvalidArgumentError(
        `two hosted consumers are named ${JSON.stringify(definition.name)}: expected unique names`,
      );
    const consumer = await consume(log, {
      ...definition,
      onState: (status) => {
        logger.info(
          { consumer: status.name, state: status.state, position: status.position, lastError: status.lastError },
          'consumer state',
        );
        definition.onState?.(status);
      },
    });
    consumers.set(definition.name, consumer);
  }
  for (const [name, model] of models) {
    model.ready.then(
      () =>
        logger.info({ model: name, position: model.position, loadedFrom: model.status().loadedFrom }, 'model ready'),
      (error: Error) => logger.error({ model: name, err: error }, 'model failed'),
    );
  }
  registerMetrics(log, models, consumers, registry);
  return {
    models,
    consumers,
    close: async () => {
      await Promise.all([...consumers.values()].map((consumer) => consumer.stop()));
      await Promise.all([...models.values()].map((model) => model.close()));
    },
  };
}

function registerMetrics(
  log: OrdoNode,
  models: ReadonlyMap<string, Model<unknown>>,
  consumers: ReadonlyMap<string, Consumer>,
  registry: Registry,
): void {
  if (models.size > 0) {
    const perModel = (name: string, help: string, value: (model: Model<unknown>) => number) =>
      gaugePer(registry, 'model', models, name, help, value);
    perModel('ordo_model_position', 'Position a hosted model is as of', (model) => model.position);
    perModel('ordo_model_lag_positions', 'Committed positions a hosted model has not looked at yet', (model) =>
      Math.max(0, log.committedPosition - model.position),
    );
    perModel(
      'ordo_model_events',
      'Events a hosted model has applied since the start of the log',
      (model) => model.status().events,
    );
    perModel(
      'ordo_model_snapshots_written',
      'Snapshots a hosted model appended',
      (model) => model.status().snapshotsWritten,
    );
    stateGauge(registry, 'model', models, MODEL_STATES, (model) => model.status().state);
  }
  if (consumers.size > 0) {
    // Every consumer series reads the consumer's status, taken once per series at scrape time.
    const perConsumer = (name: string, help: string, value: (status: ConsumerStatus) => number) =>
      gaugePer(registry, 'consumer', consumers, name, help, (consumer) => value(consumer.status()));
    perConsumer('ordo_consumer_position', 'Position of the last event a hosted consumer handled', (s) => s.position);
    perConsumer(
      'ordo_consumer_checkpoint',
      "Position a hosted consumer's last checkpoint records",
      (s) => s.checkpoint,
    );
    perConsumer('ordo_consumer_lag_positions', 'Committed positions a hosted consumer has not handled yet', (s) =>
      Math.max(0, log.committedPosition - s.position),
    );
    perConsumer(
      'ordo_consumer_failures',
      'Consecutive failures of the event a hosted consumer is on',
      (s) => s.failures,
    );
    perConsumer('ordo_consumer_handled', 'Events a hosted consumer handled since the server started', (s) => s.handled);
    stateGauge(registry, 'consumer', consumers, CONSUMER_STATES, (consumer) => consumer.status().state);
  }
}

/** A gauge with one series per hosted model or consumer, read at scrape time. */
function gaugePer<T>(
  registry: Registry,
  label: 'model' | 'consumer',
  hosted: ReadonlyMap<string, T>,
  name: string,
  help: string,
  value: (item: T) => number,
): Gauge {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [key, item] of hosted) this.set({ [label]: key }, value(item));
    },
  });
}

/** `ordo_<label>_state{<label>, state}`: 1 for the state each hosted model or consumer is in, 0 for the others. */
function stateGauge<T, S extends string>(
  registry: Registry,
  label: 'model' | 'consumer',
  hosted: ReadonlyMap<string, T>,
  states: readonly S[],
  stateOf: (item: T) => S,
): Gauge {
  return new Gauge({
    name: `ordo_${label}_state`,
    help: `A hosted ${label}'s state (1 for the one it is in)`,
    labelNames: [label, 'state'],
    registers: [registry],
    collect() {
      for (const [key, item] of hosted) {
        const current = stateOf(item);
        for (const state of states) this.set({ [label]: key, state }, current === state ? 1 : 0);
      }
    },
  });
}
