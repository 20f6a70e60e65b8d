import { InvalidArgumentError as CommanderArgumentError, Option, type Command } from 'commander';
import { connect } from '../client/index.js';
import { open } from '../node/index.js';
import type { EventLog, Expected } from '../types/index.js';

export const DEFAULT_DIR = './ordo-data';
/** A command fails fast when no server answers (a library client would keep trying longer). */
export const CLI_CONNECT_TIMEOUT_MS = 3_000;

/** Where a data command finds its log: a directory, or a server (and its token). */
export interface LogOptions {
  dir: string;
  url?: string;
  token?: string;
}

/** A commander parser for an option that takes an integer >= 0. */
export function integer(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 0)
      throw new CommanderArgumentError(`${name} must be an integer >= 0, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

/** A commander parser for an option that takes an integer >= 1 (a rate, an interval). */
export function positiveInteger(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < 1)
      throw new CommanderArgumentError(`${name} must be an integer >= 1, got ${JSON.stringify(value)}`);
    return parsed;
  };
}

export function expectedOption(value: string): Expected {
  if (value === 'any' || value === 'empty' || value === 'exists') return value;
  return integer('--expected')(value);
}

export const dirOption = () => new Option('-d, --dir <dir>', 'data directory').default(DEFAULT_DIR);
const urlOption = () =>
  new Option(
    '-u, --url <url>',
    'use the server at this URL (ordo://host:4680, ws://host:4681/ws) instead of --dir',
  ).env('ORDO_URL');
const tokenOption = () => new Option('--token <token>', "the server's access token").env('ORDO_TOKEN');

/** The options every data command takes: a directory, or a server and its token. */
export function withLogOptions(command: Command): Command {
  return command.addOption(dirOption()).addOption(urlOption()).addOption(tokenOption());
}

/** Every data command works on a directory (embedded) or, with --url, on a server: the same EventLog. */
export async function openLog(options: LogOptions): Promise<EventLog> {
  if (options.url) return connectCli(options.url, options.token);
  return open(options.dir);
}

/** The binary protocol client, as the CLI uses it. */
export function connectCli(url: string, token: string | undefined): ReturnType<typeof connect> {
  return connect(url, { token, clientName: 'ordo-cli', connectTimeoutMs: CLI_CONNECT_TIMEOUT_MS });
}
