/**
 * Invariant checks (TigerBeetle style): a broken invariant means a bug, and going on would
 * write or serve wrong data, so it throws at once with what was found.
 */
export function invariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(`ordo invariant violated: ${message()}`);
}
