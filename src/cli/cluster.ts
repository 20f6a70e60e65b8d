import type { Command } from 'commander';
import { InvalidArgumentError as CommanderArgumentError } from 'commander';
import { errorFromWire, UnavailableError, type OrdoError } from '../types/errors.js';
import type { RaftStatus } from '../raft/index.js';

/** A node's cluster view, as GET /cluster returns it. */
interface ClusterView {
  node: RaftStatus;
  peers: Record<string, string>;
}

/** How often `cluster add` looks whether the new learner has caught up, and for how long. */
const CATCH_UP_POLL_MS = 100;
const CATCH_UP_TIMEOUT_MS = 60_000;
/** A learner this many entries behind the leader's log counts as caught up. */
const CAUGHT_UP_ENTRIES = 64;

export async function call(
  base: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(new URL(path, base), {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (error) {
    throw new UnavailableError(`no Ordo HTTP API at ${base}: ${(error as Error).message}`, error);
  }
  const json = (await response.json().catch(() => ({}))) as {
    error?: { code: string; message: string } & Record<string, unknown>;
  };
  if (!response.ok) {
    const { code, message, ...details } = json.error ?? { code: 'UNAVAILABLE', message: `HTTP ${response.status}` };
    throw errorFromWire(code, message, details) as OrdoError;
  }
  return json;
}

/** `ordo cluster status | add | change | remove | transfer-leader`, through a node's HTTP API (admin scope). */
export function addClusterCommands(program: Command, defaultHttp: string): void {
  const cluster = program
    .command('cluster')
    .description("a node's view of the Raft cluster, membership changes, leadership transfer (HTTP API, admin token)");
  const withHttp = (command: Command): Command =>
    command
      .option('--http <url>', "a node's HTTP API", defaultHttp)
      .option('--token <token>', 'an admin token')
      .addHelpText(
        'after',
        '\nMembership changes and transfers go to the leader: run them against it (an error names it).',
      );

  withHttp(cluster.command('status'))
    .description("role, term, leader, commit and applied entries; on the leader, each member's match and lag")
    .action(printStatus);

  withHttp(cluster.command('add <id>'))
    .description('add a node as a learner, wait until it has caught up, then make it a voter')
    .option(
      '--address <host:port>',
      "where the peers reach the new node's binary protocol (every node learns it from the membership)",
    )
    .option('--learner', 'leave it a learner')
    .action(addMember);

  withHttp(cluster.command('change'))
    .description(
      'several membership changes in one step; changing more than one voter goes through a' +
        ' joint configuration (old and new majorities both needed), which the leader leaves by itself',
    )
    .option('--voter <id=host:port>', 'add (or promote) a voter; repeatable', collect, [])
    .option('--learner <id=host:port>', 'add a learner; repeatable', collect, [])
    .option('--remove <id>', 'remove a member; repeatable', collect, [])
    .action(async (options: HttpOptions & { voter: string[]; learner: string[]; remove: string[] }) => {
      const changes = [
        ...options.voter.map((spec) => member(spec, 'voter')),
        ...options.learner.map((spec) => member(spec, 'learner')),
        ...options.remove.map((id) => ({ id, role: 'remove' })),
      ];
      if (changes.length === 0) throw new CommanderArgumentError('cluster change needs --voter, --learner or --remove');
      const result = await call(options.http, options.token, 'POST', '/cluster/members', { changes });
      console.log(JSON.stringify(result, null, 2));
    });

  withHttp(cluster.command('remove <id>'))
    .description('remove a node from the membership (the leader too: it steps down once the change is applied)')
    .action(async (id: string, options: HttpOptions) => {
      console.log(
        JSON.stringify(
          await call(options.http, options.token, 'DELETE', `/cluster/members/${encodeURIComponent(id)}`),
          null,
          2,
        ),
      );
    });

  withHttp(cluster.command('transfer-leader <id>'))
    .description('hand leadership to a voter: it catches up, then campaigns at once')
    .action(async (id: string, options: HttpOptions) => {
      if (id === '') throw new CommanderArgumentError('transfer-leader needs a node id');
      console.log(JSON.stringify(await call(options.http, options.token, 'POST', '/cluster/leader', { id }), null, 2));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `n4=10.0.0.4:4680` (or a bare `n4`, already known) → one member of a change. */
function member(spec: string, role: 'voter' | 'learner'): { id: string; role: string; address?: string } {
  const at = spec.indexOf('=');
  if (at < 0) return { id: spec, role };
  return { id: spec.slice(0, at), role, address: spec.slice(at + 1) };
}

/** Options every cluster command takes. */
interface HttpOptions {
  http: string;
  token?: string;
}

/** `cluster status`: the node's view, with each member's match and lag when it leads. */
async function printStatus(options: HttpOptions): Promise<void> {
  const view = (await call(options.http, options.token, 'GET', '/cluster')) as ClusterView;
  const { node } = view;
  const members = Object.fromEntries(
    Object.entries(node.progress).map(([id, p]) => [
      id,
      { match: p.match, lag: node.lastIndex - p.match, state: p.state, active: p.recentActive },
    ]),
  );
  console.log(
    JSON.stringify(
      {
        id: node.id,
        role: node.role,
        term: node.term,
        leader: node.leader || null,
        commit: node.commit,
        applied: node.applied,
        lastIndex: node.lastIndex,
        voters: node.config.voters,
        learners: node.config.learners,
        ...(node.role === 'leader' ? { members } : {}),
        peers: view.peers,
      },
      null,
      2,
    ),
  );
}

/** `cluster add`: a learner first, a voter once it has caught up (a voter far behind would stall commits). */
async function addMember(id: string, options: HttpOptions & { learner?: boolean; address?: string }): Promise<void> {
  const address = options.address !== undefined ? { address: options.address } : {};
  await call(options.http, options.token, 'POST', '/cluster/members', { id, role: 'learner', ...address });
  console.error(`${id} added as a learner; waiting for it to catch up…`);
  if (options.learner) return;
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const { node } = (await call(options.http, options.token, 'GET', '/cluster')) as ClusterView;
    const match = node.progress[id]?.match ?? 0;
    if (node.lastIndex - match <= CAUGHT_UP_ENTRIES) break;
    if (Date.now() > deadline)
      throw new UnavailableError(
        `${id} did not catch up within ${CATCH_UP_TIMEOUT_MS} ms` +
          ` (it has entry ${match} of ${node.lastIndex}); it stays a learner`,
      );
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
  }
  const result = await call(options.http, options.token, 'POST', '/cluster/members', { id, role: 'voter' });
  console.log(JSON.stringify(result, null, 2));
}
