/**
 * Invariant checks (TigerBeetle style): a broken invariant means a bug, and going on would
 * write or serve wrong data, so it throws at once with what was found. Call sites test the
 * condition themselves (`if (bad) invariantFailed(...)`), so the hot path builds no message.
 * `scope` names the part whose invariant broke ('ordo', 'raft').
 */
export function invariantFailed(message: string, scope = 'ordo'): never {
  throw new Error(`${scope} invariant violated: ${message}`);
}
