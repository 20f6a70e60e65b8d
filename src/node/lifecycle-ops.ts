import type { ReadConsistency } from '../types/event.js';
import {
  metadataStreamOf,
  type DeleteStreamOptions,
  type DeleteStreamResult,
  type EraseStreamOptions,
  type EraseStreamResult,
  type GetStreamMetadataOptions,
  type SetStreamMetadataOptions,
  type SetStreamMetadataResult,
  type StreamMetadataResult,
} from '../types/stream-metadata.js';
import { validateStream } from '../types/validate.js';
import { checkDeletion, checkErasure, checkMetadataChange } from '../types/lifecycle-input.js';
import type { EngineState } from '../engine/state.js';
import { countAt } from '../engine/stream-state.js';
import { lifecycleAppend } from './lifecycle-events.js';
import type { WriteOutcome, WriteRequest } from './node-api.js';

/** What the lifecycle operations need of their node. */
export interface LifecycleOpsPorts {
  readonly engine: EngineState;
  /** The high-water mark. */
  mark(): number;
  write(request: WriteRequest): Promise<WriteOutcome>;
  /** Waits for a read point (see LogReads.linearize). */
  linearize(operation: string, consistency: ReadConsistency | undefined): Promise<void> | undefined;
}

/**
 * Stream metadata, deletion and tombstones: each is one event appended to the stream's
 * metadata stream through the one write path (so it is replicated, idempotent and checked
 * like any append), which the engine applies to the stream it describes.
 */
export class LifecycleOps {
  constructor(private readonly ports: LifecycleOpsPorts) {}

  async setStreamMetadata(
    stream: string,
    metadata: unknown,
    options: SetStreamMetadataOptions = {},
  ): Promise<SetStreamMetadataResult> {
    const checked = checkMetadataChange(stream, metadata, options);
    const change = { kind: 'metadata', metadata: checked.metadata } as const;
    const outcome = await this.ports.write(request(lifecycleAppend(checked.stream, change, checked.expected)));
    const part = outcome.parts[0]!;
    return { position: part.position, metadataCount: part.count };
  }

  async deleteStream(stream: string, options: DeleteStreamOptions = {}): Promise<DeleteStreamResult> {
    const checked = checkDeletion(stream, options);
    const change = checked.tombstone ? ({ kind: 'tombstone' } as const) : ({ kind: 'delete' } as const);
    const outcome = await this.ports.write(request(lifecycleAppend(checked.stream, change, checked.expected)));
    return { position: outcome.parts[0]!.position };
  }

  /** Tombstones the stream with an erasure; `removed` waits until this node removed its bytes. */
  async erase(stream: string, options: EraseStreamOptions, removed: () => Promise<void>): Promise<EraseStreamResult> {
    const checked = checkErasure(stream, options);
    const change = { kind: 'tombstone', erase: true } as const;
    const outcome = await this.ports.write(request(lifecycleAppend(checked.stream, change, checked.expected)));
    await removed();
    return { position: outcome.parts[0]!.position };
  }

  async getStreamMetadata(stream: string, options: GetStreamMetadataOptions = {}): Promise<StreamMetadataResult> {
    const name = validateStream(stream);
    await this.ports.linearize('getStreamMetadata', options.consistency);
    const mark = this.ports.mark();
    const { engine } = this.ports;
    const lifecycle = engine.lifecycles.at(name, mark);
    const count = countAt(engine.streams.get(name), mark);
    const metadata = lifecycle?.metadata ?? {};
    const tombstoned = lifecycle?.tombstoned === true;
    return {
      stream: name,
      metadata,
      metadataCount: countAt(engine.streams.get(metadataStreamOf(name)), mark),
      count,
      deleted: !tombstoned && metadata.truncateBefore !== undefined && metadata.truncateBefore >= count,
      tombstoned,
      erased: lifecycle?.erased === true,
    };
  }
}

function request(part: ReturnType<typeof lifecycleAppend>): WriteRequest {
  return { parts: [part], ack: 'quorum', resent: false };
}
