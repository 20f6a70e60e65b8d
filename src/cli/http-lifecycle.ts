import type {
  DeleteStreamOptions,
  DeleteStreamResult,
  EraseStreamOptions,
  EraseStreamResult,
  GetStreamMetadataOptions,
  SetStreamMetadataOptions,
  SetStreamMetadataResult,
  StreamLifecycle,
  StreamMetadata,
  StreamMetadataResult,
} from '../types/stream-metadata.js';
import { call } from './cluster.js';

/** A stream lifecycle through a node's HTTP API (docs/http-api.md); errors come back typed. */
export class HttpStreamLifecycle implements StreamLifecycle {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
  ) {}

  async setStreamMetadata(
    stream: string,
    metadata: StreamMetadata,
    options: SetStreamMetadataOptions = {},
  ): Promise<SetStreamMetadataResult> {
    const path = `${pathOf(stream)}/metadata${queryOf({ expected: options.expected })}`;
    return (await call(this.base, this.token, 'PUT', path, metadata)) as SetStreamMetadataResult;
  }

  async getStreamMetadata(stream: string, options: GetStreamMetadataOptions = {}): Promise<StreamMetadataResult> {
    const path = `${pathOf(stream)}/metadata${queryOf({ consistency: options.consistency })}`;
    return (await call(this.base, this.token, 'GET', path)) as StreamMetadataResult;
  }

  async deleteStream(stream: string, options: DeleteStreamOptions = {}): Promise<DeleteStreamResult> {
    const query = queryOf({ expected: options.expected, tombstone: options.tombstone ? 'true' : undefined });
    return (await call(this.base, this.token, 'DELETE', `${pathOf(stream)}${query}`)) as DeleteStreamResult;
  }

  async erase(stream: string, options: EraseStreamOptions = {}): Promise<EraseStreamResult> {
    const path = `${pathOf(stream)}/erase${queryOf({ expected: options.expected })}`;
    return (await call(this.base, this.token, 'POST', path)) as EraseStreamResult;
  }

  /** Nothing is held open between requests. */
  async close(): Promise<void> {}
}

function pathOf(stream: string): string {
  return `/streams/${encodeURIComponent(stream)}`;
}

/** `?name=value&…` of the values given, or nothing. */
function queryOf(values: Record<string, string | number | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== undefined) query.set(name, String(value));
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}
