/**
 * Ordo's layers (docs/architecture.md): arrows point down only.
 *   5 cli/ ui/ examples/      4 client/ server/      3 protocol/ patterns/
 *   2 node/                   1 raft/ engine/ storage/      0 stream/ types/
 * `stream/` depends on nothing in Ordo; `raft/` and `engine/` are pure state machines: no I/O,
 * no timers (imports are checked here, clock and Math.random by scripts/check-pure.mjs).
 */
const rank = {
  types: 0, stream: 0,
  storage: 1, engine: 1, raft: 1,
  node: 2,
  protocol: 3, patterns: 3,
  client: 4, server: 4,
  cli: 5, ui: 5,
};
const layers = Object.keys(rank);
const higherThan = (layer) => layers.filter((other) => rank[other] > rank[layer]);
const pattern = (names) => `^src/(${names.join('|')})/`;

const ioModules = '^(node:)?(fs|fs/promises|net|dgram|http|https|http2|child_process|timers|timers/promises|worker_threads|cluster|tls|dns|readline|perf_hooks|os|process)$';

module.exports = {
  forbidden: [
    ...layers
      .filter((layer) => higherThan(layer).length > 0)
      .map((layer) => ({
        name: `${layer}-imports-a-higher-layer`,
        severity: 'error',
        comment: `${layer}/ is rank ${rank[layer]}; it may only import layers of a lower rank`,
        from: { path: `^src/${layer}/` },
        to: { path: pattern(higherThan(layer)) },
      })),
    {
      name: 'same-rank-layers-are-independent',
      severity: 'error',
      comment: 'raft/, engine/ and storage/ do not import each other; node/ wires them',
      from: { path: '^src/(raft|engine|storage)/' },
      to: { path: '^src/(raft|engine|storage)/', pathNot: '^src/$1/' },
    },
    {
      name: 'the-node-through-its-interface',
      severity: 'error',
      comment: 'above node/, code talks to a node through node/index.ts (OrdoNode, open), never to its classes',
      from: { path: '^src/', pathNot: '^src/node/' },
      to: { path: '^src/node/', pathNot: '^src/node/index\\.ts$' },
    },
    {
      name: 'stream-depends-on-nothing',
      severity: 'error',
      from: { path: '^src/stream/' },
      to: { path: '^src/', pathNot: '^src/stream/' },
    },
    {
      name: 'pure-cores-do-no-io',
      severity: 'error',
      comment: 'raft/ and engine/ are deterministic: time, randomness, disk and network are injected',
      from: { path: '^src/(raft|engine)/' },
      to: { dependencyTypes: ['core'], path: ioModules },
    },
    {
      name: 'src-does-not-import-test-tools',
      severity: 'error',
      comment: 'the history checker (check/) and the tests are not shipped: the package must not need them',
      from: { path: '^src/' },
      to: { path: '^(check|test)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.tsx', '.js'] },
  },
};
