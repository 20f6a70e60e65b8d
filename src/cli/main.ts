#!/usr/bin/env node
import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { open, verifyLog, type RetentionOptions } from '../node/index.js';
import { loadAuthFile } from '../server/auth.js';
import { DEFAULT_HOST, DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT, startServer } from '../server/server.js';
import { fold } from '../patterns/index.js';
import { OrdoError, type Event, type Filter, type Json } from '../types/index.js';
import { eventJson } from '../types/json.js';
import { formatEvent } from './format.js';
import { RateLine } from './rate-line.js';
import { addClusterCommands, call } from './cluster.js';
import type { ScrubStatus } from '../types/log-metrics.js';
import { loadConsumers, loadModels } from './hosted-modules.js';
import { addLifecycleCommands } from './lifecycle.js';
import { addScavengeCommand, scavengeOption, withScavengeOptions } from './scavenge.js';
import { dirOption, expectedOption, integer, openLog, withLogOptions } from './log-options.js';

/** `ordo serve` exits with this when the node stopped because its storage failed (EIO on fdatasync…). */
const EXIT_STORAGE_FAILED = 3;

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

/**
 * A directory read on its own reads what it holds: a stopped cluster node has no peers to
 * confirm a linearizable read point (a single node needs none anyway). A server reads
 * linearizably.
 */
function consistencyFor(options: { url?: string }): 'linearizable' | 'local' {
  return options.url ? 'linearizable' : 'local';
}

const program = new Command()
  .name('ordo')
  .description('Ordo: a totally ordered, durable event log')
  .showHelpAfterError();

withLogOptions(program.command('append'))
  .description('append one event to a stream; prints { position, index, count }')
  .argument('<stream>', 'stream name')
  .requiredOption('-t, --type <type>', 'event type')
  .option('--data <json>', 'event data as JSON', json)
  .option('--metadata <json>', 'event metadata as a JSON object', json)
  .option('--id <uuid>', 'event id (makes a retry idempotent)')
  .option('-e, --expected <n|any|empty|exists>', 'expected stream count', expectedOption)
  .action(async (stream: string, options) => {
    const log = await openLog(options);
    try {
      const result = await log.append(
        stream,
        {
          type: options.type,
          data: options.data ?? null,
          ...(options.id ? { id: options.id } : {}),
          ...(options.metadata ? { metadata: options.metadata } : {}),
        },
        { expected: options.expected ?? 'any' },
      );
      console.log(JSON.stringify(result));
    } finally {
      await log.close();
    }
  });

withLogOptions(program.command('read'))
  .description("print a stream's events, one JSON line each")
  .argument('<stream>', 'stream name')
  .option('--from <index>', 'first index', integer('--from'))
  .option('--limit <n>', 'at most n events', integer('--limit'))
  .option('--backwards', 'newest first')
  .action(async (stream: string, options) => {
    const log = await openLog(options);
    try {
      for await (const event of log.read(stream, {
        from: options.from,
        limit: options.limit,
        backwards: options.backwards === true,
        consistency: consistencyFor(options),
      })) {
        console.log(formatEvent(event));
      }
    } finally {
      await log.close();
    }
  });

withLogOptions(program.command('read-all'))
  .description('print the whole log in order, one JSON line per event')
  .option('--from <position>', 'first position', integer('--from'), 0)
  .option('--limit <n>', 'at most n events', integer('--limit'))
  .option('--stream <name>', 'only this stream (repeatable)', collectList)
  .option('--prefix <prefix>', 'only streams with this prefix (repeatable)', collectList)
  .option('--type <type>', 'only this event type (repeatable)', collectList)
  .action(async (options) => {
    const log = await openLog(options);
    try {
      for await (const event of log.readAll({
        from: options.from,
        limit: options.limit,
        filter: filterOf(options),
        consistency: consistencyFor(options),
      }))
        console.log(formatEvent(event));
    } finally {
      await log.close();
    }
  });

withLogOptions(program.command('replay'))
  .description(
    'time travel: the state as of a past position. With --reducer, fold the events with its init() and' +
      ' apply(state, event) and print the state as JSON; without, print the events up to that position',
  )
  .requiredOption('--until <position>', 'last position to include', integer('--until'))
  .option(
    '--reducer <module>',
    'an ES module exporting init() and apply(state, event) (event data decoded with eventJson)',
  )
  .option('--stream <name>', 'only this stream (repeatable)', collectList)
  .option('--prefix <prefix>', 'only streams with this prefix (repeatable)', collectList)
  .option('--type <type>', 'only this event type (repeatable)', collectList)
  .action(async (options) => {
    const reducer = options.reducer ? await loadReducer(options.reducer as string) : undefined;
    const log = await openLog(options);
    try {
      const filter = filterOf(options);
      if (reducer) {
        const folded = await fold(log, {
          ...(filter ? { filter } : {}),
          init: reducer.init,
          apply: reducer.apply,
          until: options.until,
        });
        console.log(JSON.stringify({ position: folded.position, events: folded.events, state: folded.state }));
      } else {
        await fold(log, {
          ...(filter ? { filter } : {}),
          init: () => undefined,
          apply: (_state: undefined, event) => void console.log(formatEvent(event)),
          until: options.until,
        });
      }
    } finally {
      await log.close();
    }
  });

withLogOptions(program.command('tail'))
  .description('print the log from a position, then follow it live until Ctrl-C (a rate line goes to stderr)')
  .option('--from <position>', 'first position (default: only new events)', integer('--from'))
  .option('-f, --follow', 'keep following new events (the default)', true)
  .option('--no-follow', 'stop at the head of the log')
  .option('--rate', 'print the rate line even when stderr is not a terminal')
  .option('--stream <name>', 'only this stream (repeatable)', collectList)
  .option('--prefix <prefix>', 'only streams with this prefix (repeatable)', collectList)
  .option('--type <type>', 'only this event type (repeatable)', collectList)
  .action(async (options) => {
    const log = await openLog(options);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Waiting at the live tail is only a pending promise, which does not keep Node running.
    const keepAlive = setInterval(() => undefined, 60_000);
    const rate = options.follow && (process.stderr.isTTY || options.rate) ? new RateLine(process.stderr) : undefined;
    stop.signal.addEventListener('abort', () => clearInterval(keepAlive), { once: true });
    try {
      const head = options.follow ? Infinity : await log.headPosition();
      if (head < 0 || (options.from !== undefined && options.from > head)) return;
      const subscription = log.subscribe({
        from: options.from ?? (options.follow ? 'end' : 'start'),
        filter: filterOf(options),
        signal: stop.signal,
      });
      for await (const event of subscription) {
        console.log(formatEvent(event));
        if ('position' in event) {
          rate?.count(event.position);
          if (event.position >= head) break;
        }
      }
    } finally {
      clearInterval(keepAlive);
      rate?.stop();
      await log.close();
    }
  });

withLogOptions(program.command('streams'))
  .description('list streams and their counts, one JSON line each')
  .option('--prefix <prefix>', 'only streams starting with this')
  .option('--limit <n>', 'at most n streams', integer('--limit'))
  .action(async (options) => {
    const log = await openLog(options);
    try {
      for await (const info of log.streams({ prefix: options.prefix, limit: options.limit }))
        console.log(JSON.stringify(info));
    } finally {
      await log.close();
    }
  });

withScavengeOptions(
  program
    .command('serve')
    .description(
      'serve a data directory: the binary protocol on TCP, WebSocket and the HTTP API (SIGTERM shuts down gracefully)',
    )
    .addOption(dirOption())
    .option('--host <host>', 'address to listen on (default loopback only)', DEFAULT_HOST)
    .option('-p, --port <port>', 'binary protocol TCP port (0: any free port)', integer('--port'), DEFAULT_TCP_PORT)
    .option(
      '--http-port <port>',
      'HTTP API and WebSocket port (0: any free port)',
      integer('--http-port'),
      DEFAULT_HTTP_PORT,
    )
    .option(
      '--auth-file <file>',
      'JSON file of tokens and scopes: { "tokens": [{ "name", "token", "scopes": ["read","write","admin"] }] }',
    )
    .option('--tls-cert <file>', 'PEM certificate: serve TLS (ordos://, wss://, https://)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--fsync <policy>', "'always' (default), 'interval:<ms>' or 'never'")
    .option(
      '--scrub-rate <bytes/s>',
      'bytes per second the background scrub of sealed segments reads (default 4 MiB/s; 0: no scrub)',
      integer('--scrub-rate'),
    )
    .option(
      '--retention-max-age <ms>',
      'remove the oldest sealed segments once their newest event is older than this (single node)',
      integer('--retention-max-age'),
    )
    .option(
      '--retention-max-bytes <bytes>',
      'remove the oldest sealed segments while the log is larger than this (single node)',
      integer('--retention-max-bytes'),
    ),
)
  .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
  .option('--node-id <id>', "this node's id in a cluster (with --peers)")
  .option(
    '--peers <list>',
    'every node of the cluster as id=host:port,… (this one included): their' +
      ' binary protocol addresses, where the nodes also talk to each other',
  )
  .option(
    '--join',
    'this node joins a running cluster: it starts outside the membership until `ordo cluster add`' +
      ' adds it (--peers then needs only this node and one member)',
  )
  .option(
    '--initial-voters <ids>',
    'the voters a new cluster starts with (default: every node in --peers);' +
      ' a node not among them joins later through `ordo cluster add`',
  )
  .option(
    '--cluster-token <token>',
    'token sent to the peers (an admin token of their auth files); also ORDO_CLUSTER_TOKEN',
  )
  .option(
    '--advertise <list>',
    'the URL clients are sent to for each node, as id=url,… (default: ordo://<its' +
      ' --peers address>; for nodes whose peer address is not the one clients reach)',
  )
  .option(
    '--window-entries <n>',
    'applied entries kept in memory for followers that fall' +
      ' behind (default 200000); one further behind gets a snapshot',
    integer('--window-entries'),
  )
  .option(
    '--models <module>',
    'an ES module exporting model definitions (defineModel): kept hot,' +
      ' snapshotted to $snapshots-<name>, served at GET /models/:name',
  )
  .option(
    '--consumers <module>',
    'an ES module exporting consumers ({ name, filter, handler }): run' +
      ' next to the log, with their lag in /metrics (single node only)',
  )
  .action(async (options) => {
    if (Boolean(options.tlsCert) !== Boolean(options.tlsKey))
      throw new CommanderArgumentError('--tls-cert and --tls-key go together');
    if (Boolean(options.nodeId) !== Boolean(options.peers))
      throw new CommanderArgumentError('--node-id and --peers go together');
    if (options.windowEntries !== undefined && !options.peers)
      throw new CommanderArgumentError('--window-entries goes with --peers (a single node sends entries to nobody)');
    const parsed = options.peers
      ? parsePeers(
          options.nodeId,
          options.peers,
          options.clusterToken ?? process.env.ORDO_CLUSTER_TOKEN,
          options.initialVoters,
        )
      : undefined;
    if (options.advertise !== undefined && !options.peers)
      throw new CommanderArgumentError('--advertise goes with --peers');
    if (options.join && (!parsed || options.initialVoters !== undefined || Object.keys(parsed.peers).length < 2))
      throw new CommanderArgumentError('--join goes with --peers naming a member, and not with --initial-voters');
    const cluster = parsed && {
      ...parsed,
      // Joining: it starts as no voter of its own (the members it knows stand in) until the
      // first membership entry it applies names the whole membership.
      ...(options.join ? { voters: Object.keys(parsed.peers).filter((peer) => peer !== parsed.id) } : {}),
      ...(options.windowEntries !== undefined ? { windowEntries: options.windowEntries as number } : {}),
      ...(options.advertise !== undefined
        ? { advertise: parseAdvertise(options.advertise as string, parsed.peers) }
        : {}),
    };
    const logger = pino({ name: 'ordo', level: options.logLevel });
    // A node listens where its peers expect it, unless told otherwise.
    const own = cluster?.peers[cluster.id];
    const port = own && options.port === DEFAULT_TCP_PORT ? own.port : options.port;
    const server = await startServer({
      dir: options.dir,
      host: options.host,
      port,
      ...(cluster ? { cluster } : {}),
      httpPort: options.httpPort,
      logger,
      ...(options.authFile ? { auth: await loadAuthFile(options.authFile) } : {}),
      ...(options.tlsCert
        ? { tls: { cert: await readFile(options.tlsCert), key: await readFile(options.tlsKey) } }
        : {}),
      log: {
        ...(options.fsync ? { fsync: options.fsync } : {}),
        ...(options.scrubRate === undefined
          ? {}
          : { scrub: options.scrubRate === 0 ? false : { bytesPerSecond: options.scrubRate } }),
        ...retentionOption(options.retentionMaxAge, options.retentionMaxBytes),
        ...scavengeOption(options),
      },
      ...(options.models ? { models: await loadModels(options.models as string) } : {}),
      ...(options.consumers ? { consumers: await loadConsumers(options.consumers as string) } : {}),
      onStopped: (error) => {
        process.stderr.write(`ordo serve: the node stopped. ${error.code}: ${error.message}\n`);
        process.exit(EXIT_STORAGE_FAILED);
      },
    });
    process.stderr.write(
      `Ordo is serving` +
        ` ${server.log.dir}${cluster ? ` as node ${cluster.id} of ${Object.keys(cluster.peers).join(', ')}` : ''}\n` +
        `  binary protocol (TCP)  ${server.urls.tcp}\n` +
        `  binary over WebSocket  ${server.urls.ws}\n` +
        `  web console            ${server.urls.http}/\n` +
        `  HTTP API               ${server.urls.http}   (try: curl ${server.urls.http}/health)\n` +
        `  metrics                ${server.urls.http}/metrics\n` +
        (server.hosted.models.size > 0
          ? `  models                 ${modelUrls(server.urls.http, server.hosted.models.keys())}\n`
          : '') +
        (server.hosted.consumers.size > 0
          ? `  consumers              ${[...server.hosted.consumers.keys()].join(', ')}\n`
          : ''),
    );
    const shutdown = () => {
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });

program
  .command('verify')
  .description(
    'check every record (CRC, lengths, positions, stream indexes) and the index checkpoint; exit 1 on corruption',
  )
  .addOption(dirOption())
  .action(async (options) => {
    const report = await verifyLog(options.dir);
    console.log(JSON.stringify(report, null, 2));
    if (!report.ok) process.exitCode = 1;
  });

withLogOptions(program.command('status'))
  .description(
    'head position, streams, segments and scavenging of the log;' +
      " with --http, a node's scrub, damaged batches and scavenging",
  )
  .option(
    '--http <url>',
    "a running node's HTTP API: its storage, scrub and scavenging status (admin token); exit 1 on damage",
  )
  .action(async (options) => {
    if (options.http) {
      const storage = (await call(options.http, options.token, 'GET', '/storage')) as { scrub: ScrubStatus };
      console.log(JSON.stringify({ http: options.http, ...storage }, null, 2));
      if (storage.scrub.damagedBatches > 0) process.exitCode = 1;
      return;
    }
    if (options.url) {
      const log = await openLog(options);
      try {
        let streams = 0;
        for await (const _ of log.streams()) streams++;
        console.log(JSON.stringify({ url: options.url, headPosition: await log.headPosition(), streams }, null, 2));
      } finally {
        await log.close();
      }
      return;
    }
    const log = await open(options.dir);
    try {
      console.log(JSON.stringify({ dir: log.dir, ...log.status(), open: log.openReport }, null, 2));
    } finally {
      await log.close();
    }
  });

addLifecycleCommands(program);
addScavengeCommand(program);
addClusterCommands(program, `http://${DEFAULT_HOST}:${DEFAULT_HTTP_PORT}`);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof OrdoError) {
    console.error(`ordo: ${error.code}: ${error.message}`);
  } else {
    console.error(`ordo: ${(error as Error).stack ?? String(error)}`);
  }
  process.exitCode = error instanceof OrdoError && error.code === 'CORRUPT_LOG' ? 1 : 2;
});

/** `--peers n1=127.0.0.1:4680,n2=127.0.0.1:4690,…` → { id, peers }, with typed errors for each mistake. */
function parsePeers(
  id: string,
  text: string,
  token: string | undefined,
  votersText: string | undefined,
): { id: string; peers: Record<string, { host: string; port: number }>; token?: string; voters?: string[] } {
  const peers: Record<string, { host: string; port: number }> = {};
  for (const item of text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const match = /^([A-Za-z0-9_.-]{1,64})=(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(item);
    if (!match)
      throw new CommanderArgumentError(
        `invalid peer ${JSON.stringify(item)}: expected id=host:port (e.g. n1=127.0.0.1:4680)`,
      );
    const [, peer, host, port] = match;
    if (peers[peer!]) throw new CommanderArgumentError(`peer ${peer} is listed twice in --peers`);
    const number = Number(port);
    if (number < 1 || number > 65535)
      throw new CommanderArgumentError(`invalid port ${port} for peer ${peer}: expected 1–65535`);
    peers[peer!] = { host: host!.replace(/^\[|\]$/g, ''), port: number };
  }
  if (!peers[id])
    throw new CommanderArgumentError(
      `--node-id ${id} is not among --peers (${Object.keys(peers).join(', ') || 'none'})`,
    );
  const voters = votersText
    ?.split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  for (const voter of voters ?? [])
    if (!peers[voter]) throw new CommanderArgumentError(`--initial-voters names ${voter}, which is not in --peers`);
  return { id, peers, ...(token ? { token } : {}), ...(voters ? { voters } : {}) };
}

/** A reducer module for `ordo replay`: init() and apply(state, event), the event's JSON data decoded. */
async function loadReducer(
  path: string,
): Promise<{ init: () => unknown; apply: (state: unknown, event: Event) => unknown }> {
  const module = (await import(pathToFileURL(resolvePath(path)).href)) as {
    init?: unknown;
    apply?: unknown;
    default?: { init?: unknown; apply?: unknown };
  };
  const source = typeof module.init === 'function' ? module : module.default;
  if (typeof source?.init !== 'function' || typeof source.apply !== 'function') {
    throw new CommanderArgumentError(`--reducer ${path} must export init() and apply(state, event)`);
  }
  const { init, apply } = source as { init: () => unknown; apply: (state: unknown, event: unknown) => unknown };
  return {
    init,
    apply: (state, event) =>
      apply(state, { ...event, data: event.contentType === 'json' ? eventJson(event) : event.data }),
  };
}

/** `--advertise n1=ordo://a:4680,n2=…`: every id must be a peer, every URL ordo:// or ordos://. */
function parseAdvertise(text: string, peers: Record<string, unknown>): Record<string, string> {
  const advertise: Record<string, string> = {};
  for (const item of text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')) {
    const at = item.indexOf('=');
    const id = item.slice(0, at);
    const url = item.slice(at + 1);
    if (at <= 0 || !/^ordos?:\/\/[^/]+$/.test(url))
      throw new CommanderArgumentError(
        `invalid --advertise entry ${JSON.stringify(item)}: expected id=ordo://host:port`,
      );
    if (!(id in peers)) throw new CommanderArgumentError(`--advertise names ${id}, which is not in --peers`);
    advertise[id] = url;
  }
  return advertise;
}

/** Where `ordo serve` serves each hosted model. */
function modelUrls(http: string, names: Iterable<string>): string {
  return [...names].map((name) => `${http}/models/${name}`).join(', ');
}

/** `--retention-max-age` and `--retention-max-bytes` as the log's `retention` option (none given: none). */
function retentionOption(maxAge: unknown, maxBytes: unknown): { retention?: RetentionOptions } {
  if (maxAge === undefined && maxBytes === undefined) return {};
  return { retention: { maxAge: maxAge as number | undefined, maxBytes: maxBytes as number | undefined } };
}
