import type { Model } from '../../patterns/index.js';
import { InvalidArgumentError, UnavailableError, describe } from '../../types/errors.js';
import { HttpError } from '../http-json.js';
import type { Route } from './route.js';

/** GET /models and GET /models/:name: the models the server hosts (`ordo serve --models`). */
export function modelRoutes(models: ReadonlyMap<string, Model<unknown>> | undefined): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['models'],
      operation: 'models',
      run: async () => {
        const statuses = [...(models?.values() ?? [])].map((model) => model.status());
        return { status: 200, body: { models: statuses } };
      },
    },
    {
      method: 'GET',
      pattern: ['models', ':name'],
      operation: 'models',
      run: async ({ params }) => {
        const model = models?.get(params.name!);
        if (!model) {
          const hosted = [...(models?.keys() ?? [])].map((name) => JSON.stringify(name)).join(', ') || 'none';
          const message = `no hosted model ${describe(params.name)}: this server hosts ${hosted} (ordo serve --models)`;
          throw new HttpError(404, new InvalidArgumentError(message));
        }
        const status = model.status();
        if (status.state === 'loading' || status.state === 'failed') {
          const why = status.lastError ? `: ${status.lastError}` : '';
          throw new UnavailableError(`model ${JSON.stringify(model.name)} is ${status.state}${why}`);
        }
        // The state and its position, read together (both change only between turns of the event loop).
        return { status: 200, body: { name: model.name, position: model.position, state: model.state } };
      },
    },
  ];
}
