import type { Route } from './route.js';

/** A route for the method and path, or the methods the path allows (405), or nothing (404). */
export type RouteMatch = { route: Route; params: Record<string, string> } | { allow: string[] } | undefined;

/**
 * The route for the method among the patterns that fit the path most closely: a literal
 * segment beats a capture, so `/streams/s/metadata` belongs to the metadata routes (a POST
 * there is a 405, not an existsOrWrite at index "metadata"). `allow` lists, in route order,
 * the methods of those patterns.
 */
export function findRoute(routes: readonly Route[], method: string, pathname: string): RouteMatch {
  const segments = pathname.split('/').filter((segment) => segment !== '');
  const fitting: Array<{ route: Route; params: Record<string, string> }> = [];
  for (const route of routes) {
    const params = matchPattern(route.pattern, segments);
    if (params) fitting.push({ route, params });
  }
  const closest = Math.max(...fitting.map(({ route }) => literalsOf(route.pattern)));
  const candidates = fitting.filter(({ route }) => literalsOf(route.pattern) === closest);
  const found = candidates.find(({ route }) => route.method === method);
  if (found) return found;
  return candidates.length > 0 ? { allow: candidates.map(({ route }) => route.method) } : undefined;
}

function literalsOf(pattern: readonly string[]): number {
  return pattern.filter((part) => !part.startsWith(':')).length;
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
