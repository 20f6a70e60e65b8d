import { Option, type Command } from 'commander';
import { open, type ScavengeOptions, type ScavengeResult } from '../node/index.js';
import { call } from './cluster.js';
import { dirOption, positiveInteger } from './log-options.js';

/** Where `ordo scavenge` runs: a stopped node's directory, or a running node's HTTP API. */
interface ScavengeCommandOptions {
  dir: string;
  http?: string;
  token?: string;
}

/** `ordo scavenge`: reclaims now the bytes of events the stream metadata hides (admin). */
export function addScavengeCommand(program: Command): void {
  program
    .command('scavenge')
    .description(
      'scavenge now: what stream metadata hides becomes gone for good and its bytes are reclaimed' +
        ' (on a cluster, run it against the leader). Prints { streams, segmentsRewritten, holes, bytesReclaimed }',
    )
    .addOption(dirOption())
    .option('--http <url>', "a running node's HTTP API (http://host:4681) instead of --dir (admin token)")
    .addOption(new Option('--token <token>', "the server's access token").env('ORDO_TOKEN'))
    .action(async (options: ScavengeCommandOptions) => {
      console.log(JSON.stringify(await scavenge(options)));
    });
}

async function scavenge(options: ScavengeCommandOptions): Promise<ScavengeResult> {
  if (options.http) return (await call(options.http, options.token, 'POST', '/admin/scavenge')) as ScavengeResult;
  const log = await open(options.dir);
  try {
    return await log.scavenge();
  } finally {
    await log.close();
  }
}

/** The options `ordo serve` takes for background scavenging. */
export function withScavengeOptions(command: Command): Command {
  return command
    .option(
      '--scavenge-interval <ms>',
      'how often the background scavenger reclaims the bytes of events gone for good (default 600000)',
      positiveInteger('--scavenge-interval'),
    )
    .option(
      '--scavenge-rate <bytes/s>',
      'bytes per second scavenging and erasures read and write at most (default 64 MiB/s)',
      positiveInteger('--scavenge-rate'),
    )
    .addOption(
      new Option('--no-scavenge', 'no background scavenging (`ordo scavenge` and erasures still run)').conflicts([
        'scavengeInterval',
        'scavengeRate',
      ]),
    );
}

/** What `ordo serve` parsed from the scavenging options. */
export interface ScavengeFlags {
  scavenge?: boolean;
  scavengeInterval?: number;
  scavengeRate?: number;
}

/** The scavenging flags as the log's `scavenge` option (none given: the defaults). */
export function scavengeOption(flags: ScavengeFlags): { scavenge?: ScavengeOptions | false } {
  if (flags.scavenge === false) return { scavenge: false };
  if (flags.scavengeInterval === undefined && flags.scavengeRate === undefined) return {};
  return { scavenge: { intervalMs: flags.scavengeInterval, bytesPerSecond: flags.scavengeRate } };
}
