import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineModel, isModelDefinition, type ConsumerOptions, type ModelDefinition } from '../patterns/index.js';

/** Every export of a module, arrays flattened (a module may `export default [a, b]` or `export const a = …`). */
async function exportsOf(path: string): Promise<unknown[]> {
  const module = (await import(pathToFileURL(resolvePath(path)).href)) as Record<string, unknown>;
  return Object.values(module).flatMap((value) => (Array.isArray(value) ? value : [value]));
}

/** `ordo serve --models ./models.js`: the module's model definitions (made with defineModel, or shaped like one). */
export async function loadModels(path: string): Promise<Array<ModelDefinition<unknown>>> {
  const found = new Map<string, ModelDefinition<unknown>>();
  for (const value of await exportsOf(path)) {
    const shaped =
      typeof value === 'object' &&
      value !== null &&
      'name' in value &&
      'init' in value &&
      'apply' in value &&
      'version' in value;
    if (!isModelDefinition(value) && !shaped) continue;
    const definition = defineModel(value as ModelDefinition<unknown>);
    found.set(definition.name, definition); // `export default [m]` and `export const m` are the same model
  }
  if (found.size === 0)
    throw new CommanderArgumentError(
      `--models ${path} exports no model definitions: export` +
        ` defineModel({ name, filter, init, apply, version }) values`,
    );
  return [...found.values()];
}

/** `ordo serve --consumers ./consumers.js`: the module's consumer options ({ name, handler, … }). */
export async function loadConsumers(path: string): Promise<ConsumerOptions[]> {
  const found = new Map<string, ConsumerOptions>();
  for (const value of await exportsOf(path)) {
    if (typeof value !== 'object' || value === null) continue;
    const { name, handler } = value as Partial<ConsumerOptions>;
    if (typeof name === 'string' && typeof handler === 'function') found.set(name, value as ConsumerOptions);
  }
  if (found.size === 0)
    throw new CommanderArgumentError(
      `--consumers ${path} exports no consumers: export { name, filter, handler } objects`,
    );
  return [...found.values()];
}
