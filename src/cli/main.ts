#!/usr/bin/env node
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { open } from '../node/index.js';
import { verifyLog } from '../node/verify.js';
import { OrdoError, type Expected, type Filter, type Json } from '../types/index.js';
import { formatEvent } from './format.js';

const DEFAULT_DIR = './ordo-data';

function integer(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0) throw new CommanderArgumentError(`${name} must be an integer >= 0, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

function expectedOption(value: string): Expected {
  if (value === 'any' || value === 'empty' || value === 'exists') return value;
  return integer('--expected')(value);
}

function json(value: string): Json {
  try {
    return JSON.parse(value) as Json;
  } catch (error) {
    throw new CommanderArgumentError(`--data must be JSON: ${(error as Error).message}`);
  }
}

function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function filterOf(options: { stream?: string[]; prefix?: string[]; type?: string[] }): Filter | undefined {
  const filter: Filter = {};
  if (options.stream) filter.streams = options.stream;
  if (options.prefix) filter.prefixes = options.prefix;
  if (options.type) filter.types = options.type;
  return Object.keys(filter).length > 0 ? filter : undefined;
}

const dirOption = () => new Option('-d, --dir <dir>', 'data directory').default(DEFAULT_DIR);

const program = new Command()
  .name('ordo')
  .description('Ordo: a totally ordered, durable event log')
  .showHelpAfterError();

program
  .command('append')
  .description('append one event to a stream; prints { position, index, count }')
  .argument('<stream>', 'stream name')
  .requiredOption('-t, --type <type>', 'event type')
  .option('--data <json>', 'event data as JSON', json)
  .option('--metadata <json>', 'event metadata as a JSON object', json)
  .option('--id <uuid>', 'event id (makes a retry idempotent)')
  .option('-e, --expected <n|any|empty|exists>', 'expected stream count', expectedOption)
  .addOption(dirOption())
  .action(async (stream: string, options) => {
    const log = await open(options.dir);
    try {
      const result = await log.append(
        stream,
        { type: options.type, data: options.data ?? null, ...(options.id ? { id: options.id } : {}), ...(options.metadata ? { metadata: options.metadata } : {}) },
        { expected: options.expected ?? 'any' },
      );
      console.log(JSON.stringify(result));
    } finally {
      await log.close();
    }
  });

program
  .command('read')
  .description("print a stream's events, one JSON line each")
  .argument('<stream>', 'stream name')
  .option('--from <index>', 'first index', integer('--from'))
  .option('--limit <n>', 'at most n events', integer('--limit'))
  .option('--backwards', 'newest first')
  .addOption(dirOption())
  .action(async (stream: string, options) => {
    const log = await open(options.dir);
    try {
      for await (const event of log.read(stream, { from: options.from, limit: options.limit, backwards: options.backwards === true })) {
        console.log(formatEvent(event));
      }
    } finally {
      await log.close();
    }
  });

program
  .command('read-all')
  .description('print the whole log in order, one JSON line per event')
  .option('--from <position>', 'first position', integer('--from'), 0)
  .option('--limit <n>', 'at most n events', integer('--limit'))
  .option('--stream <name>', 'only this stream (repeatable)', collectList)
  .option('--prefix <prefix>', 'only streams with this prefix (repeatable)', collectList)
  .option('--type <type>', 'only this event type (repeatable)', collectList)
  .addOption(dirOption())
  .action(async (options) => {
    const log = await open(options.dir);
    try {
      for await (const event of log.readAll({ from: options.from, limit: options.limit, filter: filterOf(options) })) console.log(formatEvent(event));
    } finally {
      await log.close();
    }
  });

program
  .command('tail')
  .description('print the log from a position, then follow it live until Ctrl-C')
  .option('--from <position>', "first position (default: only new events)", integer('--from'))
  .option('--stream <name>', 'only this stream (repeatable)', collectList)
  .option('--prefix <prefix>', 'only streams with this prefix (repeatable)', collectList)
  .option('--type <type>', 'only this event type (repeatable)', collectList)
  .addOption(dirOption())
  .action(async (options) => {
    const log = await open(options.dir);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Waiting at the live tail is only a pending promise, which does not keep Node running.
    const keepAlive = setInterval(() => undefined, 60_000);
    stop.signal.addEventListener('abort', () => clearInterval(keepAlive), { once: true });
    try {
      const subscription = log.subscribe({ from: options.from ?? 'end', filter: filterOf(options), signal: stop.signal });
      for await (const event of subscription) console.log(formatEvent(event));
    } finally {
      await log.close();
    }
  });

program
  .command('verify')
  .description('check every record (CRC, lengths, positions, stream indexes) and the index checkpoint; exit 1 on corruption')
  .addOption(dirOption())
  .action(async (options) => {
    const report = await verifyLog(options.dir);
    console.log(JSON.stringify(report, null, 2));
    if (!report.ok) process.exitCode = 1;
  });

program
  .command('status')
  .description('head position, streams and segments of the log')
  .addOption(dirOption())
  .action(async (options) => {
    const log = await open(options.dir);
    try {
      console.log(JSON.stringify({ dir: log.dir, ...log.status(), open: log.openReport }, null, 2));
    } finally {
      await log.close();
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof OrdoError) {
    console.error(`ordo: ${error.code}: ${error.message}`);
  } else {
    console.error(`ordo: ${(error as Error).stack ?? String(error)}`);
  }
  process.exitCode = error instanceof OrdoError && error.code === 'CORRUPT_LOG' ? 1 : 2;
});
