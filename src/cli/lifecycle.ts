import { InvalidArgumentError as CommanderArgumentError, type Command } from 'commander';
import { open } from '../node/index.js';
import type { Expected } from '../types/index.js';
import type { StreamLifecycle, StreamMetadata } from '../types/stream-metadata.js';
import { HttpStreamLifecycle } from './http-lifecycle.js';
import { connectCli, expectedOption, withLogOptions, type LogOptions } from './log-options.js';

/** A data command's options, and a node's HTTP API as a third way to reach the log. */
interface LifecycleOptions extends LogOptions {
  http?: string;
}

/** A log whose streams' lifecycles the command changes, and how to let it go. */
interface LifecycleLog extends StreamLifecycle {
  close(): Promise<void>;
}

/**
 * `ordo metadata get|set`, `ordo delete` and `ordo erase`: on a directory, a server (--url) or
 * its HTTP API (--http).
 */
export function addLifecycleCommands(program: Command): void {
  const metadata = program
    .command('metadata')
    .description("a stream's metadata: maxAge, maxCount, truncateBefore and your own fields under custom");

  withLifecycleOptions(metadata.command('get'))
    .description('print { stream, metadata, metadataCount, count, deleted, tombstoned }')
    .argument('<stream>', 'stream name')
    .action(async (stream: string, options: LifecycleOptions) => {
      // A directory read on its own reads what it holds (a stopped cluster node has no peers).
      const consistency = options.url || options.http ? 'linearizable' : 'local';
      await withLifecycle(options, (log) => log.getStreamMetadata(stream, { consistency }));
    });

  withLifecycleOptions(metadata.command('set'))
    .description(
      'replace the metadata (give every field you keep); prints { position, metadataCount }.' +
        ' Reads honour it at once',
    )
    .argument('<stream>', 'stream name')
    .argument('<json>', 'the metadata, e.g. \'{"maxCount":100,"custom":{"owner":"ops"}}\'', metadataArgument)
    .option('-e, --expected <n|any|empty|exists>', 'expected count of metadata changes (metadataCount)', expectedOption)
    .action(async (stream: string, value: StreamMetadata, options: LifecycleOptions & { expected?: Expected }) => {
      await withLifecycle(options, (log) => log.setStreamMetadata(stream, value, { expected: options.expected }));
    });

  withLifecycleOptions(program.command('delete'))
    .description(
      'delete a stream: soft by default (it reads empty, keeps its count and may be written again);' +
        ' with --tombstone for good. Prints { position }',
    )
    .argument('<stream>', 'stream name')
    .option('-e, --expected <n|any|empty|exists>', "expected count of the stream's events", expectedOption)
    .option('--tombstone', 'delete for good: every later append fails with STREAM_DELETED')
    .action(async (stream: string, options: LifecycleOptions & { expected?: Expected; tombstone?: boolean }) => {
      const deletion = { expected: options.expected, tombstone: options.tombstone === true };
      await withLifecycle(options, (log) => log.deleteStream(stream, deletion));
    });

  withLifecycleOptions(program.command('erase'))
    .description(
      "erase a stream: a tombstone that also removes its events' bytes from every node, for good" +
        ' (admin). Asks nothing; prints { position } once the bytes are gone',
    )
    .argument('<stream>', 'stream name')
    .option('-e, --expected <n|any|empty|exists>', "expected count of the stream's events", expectedOption)
    .action(async (stream: string, options: LifecycleOptions & { expected?: Expected }) => {
      await withLifecycle(options, (log) => log.erase(stream, { expected: options.expected }));
    });
}

function withLifecycleOptions(command: Command): Command {
  return withLogOptions(command).option(
    '--http <url>',
    "use a node's HTTP API (http://host:4681) instead of --dir or --url (ORDO_URL)",
  );
}

/** Opens the log, runs one operation, prints its result as one JSON line, and closes the log. */
async function withLifecycle(options: LifecycleOptions, run: (log: LifecycleLog) => Promise<unknown>): Promise<void> {
  const log = await openLifecycle(options);
  try {
    console.log(JSON.stringify(await run(log)));
  } finally {
    await log.close();
  }
}

async function openLifecycle(options: LifecycleOptions): Promise<LifecycleLog> {
  if (options.http) return new HttpStreamLifecycle(options.http, options.token);
  if (!options.url) return open(options.dir);
  return connectCli(options.url, options.token);
}

function metadataArgument(value: string): StreamMetadata {
  try {
    return JSON.parse(value) as StreamMetadata;
  } catch (error) {
    throw new CommanderArgumentError(`the metadata must be JSON: ${(error as Error).message}`);
  }
}
