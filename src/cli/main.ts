#!/usr/bin/env node
/**
 * The `switchboard` executable.
 *
 *   switchboard [flags]                       start the broker
 *   switchboard check-config FILE [flags]     validate a configuration and explain it
 *   switchboard token --app A --sub ID ...    mint an HS256 JWT for a login
 *   switchboard passwd FILE LOGIN [--profile P]   add or update a password file entry
 *   switchboard store stats|export|compact --data-dir DIR   look into a stopped broker's store
 *
 * Prints one `listening <url>` line per bound listener on stdout; logs go to stderr.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { brokerVersion, createBroker } from '../broker.js';
import type { Broker } from '../broker.js';
import { ConfigError } from '../config/schema.js';
import { describeListener, loadConfig, openListeners } from '../config/load.js';
import { flagLayer, flagOptions } from '../config/flags.js';
import { redact } from '../config/redact.js';
import { helpEnvironment, helpOptions, helpSettings } from '../config/reference.js';
import type { BrokerConfig } from '../config/types.js';
import { createLogger } from '../logging.js';
import { CommandError, passwdCommand, tokenCommand } from './commands.js';
import { storeCommand } from './store-command.js';
import { ClusterMesh } from '../cluster/mesh.js';
import { RedisBus } from '../cluster/redis.js';
import { runPrimary, WORKER_ENV } from '../cluster/primary.js';
import type { WorkerReady } from '../cluster/primary.js';

/** --help: the options, settings and environment variables are generated from the schema. */
function help(): string {
  return `switchboard ${brokerVersion()}: MQTT 3.1.1/5.0 and STOMP 1.2 broker

Usage:
  switchboard [options]                     start the broker
  switchboard check-config FILE [options]   validate FILE (with env and options) and explain it
  switchboard token --app APP --sub LOGIN --profile PROFILE [--ttl 1h] [--secret S | --config FILE]
  switchboard passwd FILE LOGIN [--profile PROFILE]   (password from stdin, or prompted)
  switchboard store stats|export|compact --data-dir DIR   counts, JSON-lines export, compaction of a stopped broker's store

${helpOptions()}
${helpSettings()}
${helpEnvironment()}
Precedence: options > environment > configuration file > defaults.
Signals: SIGINT/SIGTERM shut down gracefully; SIGHUP reloads the configuration file.
`;
}

interface Parsed {
  config: BrokerConfig;
  configFile: string | undefined;
  /** The flag layer, kept for configuration reloads. */
  flags: Record<string, unknown>;
  /** Which flag set which key, for messages. */
  flagOrigins: ReadonlyMap<string, string>;
  positionals: string[];
}

function parse(argv: string[]): Parsed | 'help' | 'version' {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: flagOptions() });
  if (values.help) return 'help';
  if (values.version) return 'version';
  const { data: flags, origins: flagOrigins } = flagLayer(values);
  const config = typeof values.config === 'string' ? values.config : undefined;
  const configFile = config ?? (positionals[0] === 'check-config' ? positionals[1] : undefined);
  const loaded = loadConfig({ ...(configFile !== undefined ? { configFile } : {}), env: process.env, flags, flagOrigins });
  return { config: loaded, configFile: configFile ?? process.env.SWITCHBOARD_CONFIG, flags, flagOrigins, positionals };
}

async function run(argv: string[]): Promise<number> {
  const sub = argv[0];
  const command = sub === 'token' ? tokenCommand : sub === 'passwd' ? passwdCommand : sub === 'store' ? storeCommand : null;
  if (command !== null) {
    // Every subcommand reports errors as the main command does: one line naming the problem.
    try {
      return await command(argv.slice(1));
    } catch (err) {
      if (err instanceof ConfigError) process.stderr.write(`switchboard ${sub}: invalid configuration:\n${err.message}\n`);
      else process.stderr.write(`switchboard ${sub}: ${(err as Error).message}${(err as Error).message.endsWith('\n') ? '' : '\n'}`);
      return err instanceof CommandError ? err.exitCode : 1;
    }
  }

  let parsed: Parsed | 'help' | 'version';
  try {
    parsed = parse(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchboard: invalid configuration:\n${err.message}\n`);
      return 1;
    }
    process.stderr.write(`switchboard: ${(err as Error).message}\nTry --help.\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(help());
    return 0;
  }
  if (parsed === 'version') {
    process.stdout.write(`${brokerVersion()}\n`);
    return 0;
  }
  const { config, positionals } = parsed;
  if (positionals[0] === 'check-config') {
    if (positionals[1] === undefined) {
      process.stderr.write('switchboard check-config: a FILE is required\n');
      return 2;
    }
    process.stdout.write(`${positionals[1]}: OK\n\nListeners:\n${config.listen.map((u) => `  ${describeListener(u)}`).join('\n')}\n`);
    process.stdout.write(config.applications.length === 0 ? '\nNo applications: development mode (any login accepted).\n' : `\nApplications: ${config.applications.map((a) => a.id).join(', ')}\n`);
    process.stdout.write(`\nResolved configuration:\n${YAML.stringify(redact(config))}`);
    return 0;
  }
  if (positionals.length > 0) {
    process.stderr.write(`switchboard: unknown command "${positionals[0]}". Try --help.\n`);
    return 2;
  }
  return serve(parsed);
}

async function serve({ config, configFile, flags, flagOrigins }: Parsed): Promise<number> {
  const worker = cluster.isWorker ? Number(process.env[WORKER_ENV.index]) : null;
  const logger = createLogger(config.log).child(worker !== null ? { worker } : {});
  if (worker === null) {
    for (const url of openListeners(config)) {
      logger.warn({ url }, 'auth.allowAnonymous: no authentication is configured and this listener is reachable from the network: any client can connect, with any profile');
    }
    if (config.applications.length === 0) logger.warn('development mode: no application configured, every login is accepted');
    if (config.cluster.workers > 1) return runPrimary(config.cluster.workers, logger);
  }
  let broker: Broker;
  let mesh: ClusterMesh | RedisBus | null = null;
  try {
    // Other nodes are reached through the bus: Redis when configured (every worker is a node of
    // its own), else the workers' Unix-socket mesh. broker.start() starts it.
    const c = config.cluster;
    if (c.redis.url !== undefined || c.redis.nodes !== undefined || c.redis.sentinels !== undefined) {
      const node = c.nodeId !== undefined && worker !== null ? `${c.nodeId}-w${worker}` : c.nodeId;
      mesh = new RedisBus({ node, redis: c.redis, heartbeatMs: c.heartbeatMs, deadAfterMs: c.deadAfterMs, link: c.link, advertise: c.advertise, logger });
    } else if (worker !== null) mesh = new ClusterMesh({ index: worker, workers: Number(process.env[WORKER_ENV.count]), dir: process.env[WORKER_ENV.dir] ?? '', logger });
    broker = createBroker(config, { logger, ...(mesh !== null ? { bus: mesh } : {}) });
    const addrs = await broker.start();
    if (worker !== null) process.send?.({ type: 'switchboard-ready', urls: addrs.map((a) => a.url) } satisfies WorkerReady);
    else for (const a of addrs) process.stdout.write(`listening ${a.url}\n`);
  } catch (err) {
    // broker.start() has closed whatever it had bound; the mesh goes too, so nothing holds the
    // event loop and the process exits with the status below (test/security/transports.test.ts).
    await mesh?.stop().catch(() => {});
    logger.fatal({ err }, 'cannot start');
    process.stderr.write(`switchboard: cannot start: ${(err as Error).message}\n`);
    logger.flush?.();
    if (worker !== null) process.exit(1); // the IPC channel to the primary would keep a worker alive
    return 1;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.exit(1); // second signal: give up waiting
    }
    stopping = true;
    mesh?.quiesce();
    logger.info({ signal }, 'shutting down');
    broker
      .stop()
      .then(
        () => {
          logger.flush?.();
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error during shutdown');
          process.exit(1);
        },
      );
  };
  // A worker stops when the primary says so (a terminal's Ctrl-C reaches the whole group).
  process.on('SIGINT', () => (worker === null ? stop('SIGINT') : undefined));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig({ ...(configFile !== undefined ? { configFile } : {}), env: process.env, flags, flagOrigins });
      broker.reload(next);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'configuration reload failed; keeping the current one');
    }
  });
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}

// The reader of stdout may go away (a supervisor restarted, a pipe closed): a failed write of a
// `listening` line must not become an uncaught error. Logs go to stderr (logging.ts LogDestination).
process.stdout.on('error', () => undefined);

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`switchboard: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
