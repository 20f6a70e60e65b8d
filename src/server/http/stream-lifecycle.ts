import type { OrdoNode } from '../../node/index.js';
import type { Expected } from '../../types/errors.js';
import type { StreamMetadata } from '../../types/stream-metadata.js';
import { readJsonBody } from '../http-json.js';
import { booleanParam, consistencyOf, expectedOf } from './params.js';
import type { Route } from './route.js';

/**
 * A stream's lifecycle: its metadata (GET/PUT /streams/:stream/metadata) and its deletion
 * (DELETE /streams/:stream, soft or with a tombstone), an erasure (POST /streams/:stream/erase)
 * and a scavenge started by hand (POST /admin/scavenge), both admin. The log checks the metadata and names a
 * bad field in INVALID_METADATA.
 */
export function streamLifecycleRoutes(log: OrdoNode, maxBodyBytes: number): Route[] {
  return [
    {
      method: 'GET',
      pattern: ['streams', ':stream', 'metadata'],
      operation: 'getStreamMetadata',
      run: async ({ params, query }) => {
        const consistency = consistencyOf(query);
        const result = await log.getStreamMetadata(params.stream!, consistency === undefined ? {} : { consistency });
        return { status: 200, body: result };
      },
    },
    {
      method: 'PUT',
      pattern: ['streams', ':stream', 'metadata'],
      operation: 'setStreamMetadata',
      run: async ({ req, params, query }) => {
        const metadata = (await readJsonBody(req, maxBodyBytes)) as StreamMetadata;
        // The expected count is the metadata stream's (`metadataCount`), as appends take theirs.
        const expected = expectedOf(req, query, undefined) as Expected | undefined;
        const result = await log.setStreamMetadata(params.stream!, metadata, { expected });
        return { status: 200, body: result };
      },
    },
    {
      method: 'DELETE',
      pattern: ['streams', ':stream'],
      operation: 'deleteStream',
      run: async ({ req, params, query }) => {
        const expected = expectedOf(req, query, undefined) as Expected | undefined;
        const tombstone = booleanParam(query, 'tombstone');
        const result = await log.deleteStream(params.stream!, { expected, tombstone });
        return { status: 200, body: result };
      },
    },
    {
      method: 'POST',
      pattern: ['streams', ':stream', 'erase'],
      operation: 'erase',
      run: async ({ req, params, query }) => {
        const expected = expectedOf(req, query, undefined) as Expected | undefined;
        return { status: 200, body: await log.erase(params.stream!, { expected }) };
      },
    },
    {
      method: 'POST',
      pattern: ['admin', 'scavenge'],
      operation: 'scavenge',
      run: async () => ({ status: 200, body: await log.scavenge() }),
    },
  ];
}
