import type { Filter } from '../types/event.js';

/** Compiles a filter into a predicate; every given criterion must match. */
export function compileFilter(
  filter: Filter | undefined,
): ((event: { stream: string; type: string }) => boolean) | undefined {
  if (!filter) return undefined;
  const streams = filter.streams ? new Set(filter.streams) : undefined;
  const prefixes = filter.prefixes;
  const types = filter.types ? new Set(filter.types) : undefined;
  if (!streams && !prefixes && !types) return undefined;
  return (event) => {
    if (streams && !streams.has(event.stream)) return false;
    if (prefixes && !prefixes.some((prefix) => event.stream.startsWith(prefix))) return false;
    if (types && !types.has(event.type)) return false;
    return true;
  };
}
