import type { Route } from './route.js';

/** A route for the method and path, or the methods the path allows (405), or nothing (404). */
export type RouteMatch = { route: Route; params: Record<string, string> } | { allow: string[] } | undefined;

/** The first route whose method and pattern fit; `allow` lists, in route order, the methods that fit the path. */
export function findRoute(routes: readonly Route[], method: string, pathname: string): RouteMatch {
  const segments = pathname.split('/').filter((segment) => segment !== '');
  const allow: string[] = [];
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allow.push(route.method);
  }
  return allow.length > 0 ? { allow } : undefined;
}

/** The captured parameters, or undefined when the path does not fit (or a capture is not valid percent-encoding). */
function matchPattern(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i]!;
    if (part.startsWith(':')) {
      try {
        params[part.slice(1)] = decodeURIComponent(segments[i]!);
      } catch {
        return undefined;
      }
    } else if (part !== segments[i]) {
      return undefined;
    }
  }
  return params;
}
