/**
 * Dependency direction between the folders of src/ (`npm run lint:deps`, run first by `npm test`).
 * Type-only imports count as imports (tsPreCompilationDeps). Tests inside src/ count too.
 *
 * The layers, bottom up:
 *   shared/      leaf helpers used by several layers (listener URL parsing): imports nothing of src/
 *   transports/  sockets, TLS, WebSocket: knows no protocol, broker state or configuration
 *   stores/      storage behind the core; core/ message types only
 *   core/        topics, sessions, routing, permissions: no protocol, transport, auth, cluster, CLI
 *   protocols/   MQTT and STOMP over a transport connection, into the core
 *   config/      the configuration schema: no transport code (listener URLs come from shared/)
 *   auth/, cluster/, broker.ts, cli/   on top
 * and no cycle between folders.
 */
const layer = (name) => `^src/${name}/`;
const anyOf = (...names) => `^src/(${names.join('|')})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'shared-is-a-leaf',
      comment: 'src/shared/ is imported by several layers, so it imports none of them.',
      severity: 'error',
      from: { path: layer('shared') },
      to: { path: '^src/', pathNot: layer('shared') },
    },
    {
      name: 'transports-below-everything',
      comment: 'Transports carry bytes: no protocol, core, store, cluster, auth, configuration or CLI code (type-only imports included).',
      severity: 'error',
      from: { path: layer('transports') },
      to: { path: [anyOf('protocols', 'core', 'stores', 'cluster', 'auth', 'config', 'cli'), '^src/(broker|index)\\.ts$'] },
    },
    {
      name: 'core-independent',
      comment: 'The core knows no protocol, transport, cluster, auth or CLI.',
      severity: 'error',
      from: { path: layer('core') },
      to: { path: [anyOf('protocols', 'transports', 'cluster', 'auth', 'cli'), '^src/(broker|index)\\.ts$'] },
    },
    {
      name: 'core-not-to-config',
      comment: 'The core takes its settings as arguments; at most type-only imports of config/types.ts (see core-config-types).',
      severity: 'error',
      from: { path: layer('core') },
      to: { path: layer('config'), pathNot: '^src/config/types\\.ts$' },
    },
    {
      name: 'core-not-to-config-runtime',
      comment: 'The core takes its settings as arguments; at most type-only imports of config/types.ts.',
      severity: 'error',
      from: { path: layer('core') },
      to: { path: '^src/config/types\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'core-config-types',
      comment: 'Tolerated (type-only), reported: the core would better declare the option shapes it needs itself.',
      severity: 'warn',
      from: { path: layer('core') },
      to: { path: '^src/config/types\\.ts$', dependencyTypes: ['type-only'] },
    },
    {
      name: 'stores-below-protocols-and-transports',
      comment: 'Stores keep data for the core: no protocol or transport code.',
      severity: 'error',
      from: { path: layer('stores') },
      to: { path: anyOf('protocols', 'transports') },
    },
    {
      name: 'protocols-not-to-cluster-or-cli',
      comment: 'Protocols serve one connection: the cluster and the CLI sit above them.',
      severity: 'error',
      from: { path: layer('protocols') },
      to: { path: anyOf('cluster', 'cli') },
    },
    {
      name: 'config-not-to-transports',
      comment: 'The configuration validates listener URLs with src/shared/listen-url.ts, not with transport code.',
      severity: 'error',
      from: { path: layer('config') },
      to: { path: layer('transports') },
    },
    {
      name: 'no-folder-cycles',
      comment: 'No cycle between the folders of src/ (a folder and its subfolders count as one).',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/([^/]+)' },
      to: { path: '^src/', pathNot: '^src/$1(/|$)', circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve would hide a dependency from these rules.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
