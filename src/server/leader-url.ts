import { NotLeaderError, type OrdoError } from '../types/errors.js';

/**
 * A NOT_LEADER error that names the leader but not its URL gets the leader's client URL from
 * `peerUrls`, so the client can go there; any other error is returned as it is.
 */
export function withLeaderUrl(
  error: OrdoError,
  operation: string,
  peerUrls: Readonly<Record<string, string>> | undefined,
): OrdoError {
  if (!(error instanceof NotLeaderError) || error.leader === undefined || error.leaderUrl !== undefined) return error;
  const url = peerUrls?.[error.leader];
  return url ? new NotLeaderError(operation, error.leader, url) : error;
}
