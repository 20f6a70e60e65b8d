import type { ServerMetrics } from '../metrics.js';
import type { Route } from './route.js';

/** GET /metrics: the Prometheus exposition, in the content type the registry names. */
export function metricsRoutes(metrics: ServerMetrics): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['metrics'],
      operation: 'metrics',
      run: async () => {
        const { contentType, body } = await metrics.render();
        return { status: 200, body, headers: { 'content-type': contentType } };
      },
    },
  ];
}
