import type { Authenticator } from '../auth.js';
import { tokenOf } from './params.js';
import type { Route } from './route.js';

/** GET /whoami: the token's name and scopes (the console asks it to know what to offer). */
export function whoamiRoutes(auth: Authenticator): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['whoami'],
      operation: 'whoami',
      run: async ({ req, query }) => {
        const principal = auth.authenticate(tokenOf(req, query));
        const body = { name: principal.name, scopes: [...principal.scopes], authRequired: auth.required };
        return { status: 200, body };
      },
    },
  ];
}
