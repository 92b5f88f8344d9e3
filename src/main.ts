#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import closeWithGrace from 'close-with-grace';
import pino, { type Logger } from 'pino';
import type { CommandIo } from './commands/inputs.js';
import { parseCommand, serveUsage, usage } from './cli.js';
import { loadConfig } from './config.js';
import { createLogger } from './log.js';
import { unsupportedNodeMessage } from './node-support.js';
import { startServer } from './server/serve.js';
import { packageManifest, versionInfo } from './version.js';

/** Entry only: parse the command, load config, start, and handle signals. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const command = parseCommand(argv);
  const unsupported = unsupportedNodeMessage(process.versions.node, packageManifest().engines?.node);
  if (unsupported && (command.name === 'serve' || command.name === 'check' || command.name === 'inventory')) {
    process.stderr.write(`wi-admission: ${unsupported}\n`);
    return 2;
  }
  switch (command.name) {
    case 'version':
      process.stdout.write(`${JSON.stringify(versionInfo())}\n`);
      return 0;
    case 'help':
      process.stdout.write(`${command.topic === 'serve' ? serveUsage() : usage()}\n`);
      return 0;
    case 'unknown':
      process.stderr.write(`wi-admission: unknown command "${command.word}"; see "wi-admission --help"\n`);
      return 2;
    case 'serve':
      return serve(command.argv, env);
    // The offline commands are loaded only when run: the server never needs them.
    case 'check':
      return (await import('./commands/check.js')).runCheckCommand(command.argv, commandIo(env));
    case 'inventory':
      return (await import('./commands/inventory.js')).runInventoryCommand(command.argv, commandIo(env));
  }
}

/** Offline commands write results to stdout; logs (warnings only) go to stderr. */
function commandIo(env: NodeJS.ProcessEnv): CommandIo {
  return {
    cwd: process.cwd(),
    env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: () => readFileSync(0, 'utf8'),
    log: createLogger('', pino.destination(2)),
  };
}

/** After a failed start everything is already stopped, so the process ends by itself; this only reports it if something was left. */
const EXIT_DEADLINE_MS = 5000;

async function serve(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const loaded = loadConfig(argv, env);
  if (!loaded.ok && loaded.usage) {
    process.stderr.write(`wi-admission serve: ${loaded.error}\n`);
    return 2;
  }
  if (!loaded.ok) {
    process.stderr.write(`wi-admission: invalid configuration [WIA_ERR_CONFIG_INVALID]\n${loaded.error}\n`);
    return 1;
  }
  const config = loaded.config;
  const log = createLogger(config.logLevel);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let signals: ReturnType<typeof closeWithGrace> | undefined = undefined;
  let fatal: Error | undefined;
  // A fatal error after the start (an API server version that is not semver) stops the server like SIGTERM, then exits 1.
  const onFatal = (err: Error): void => {
    if (fatal) return;
    fatal = err;
    reportStartFailure(log, err);
    // close-with-grace would run the shutdown again when the loop empties, and exit 0.
    signals?.uninstall();
    if (server) void server.shutdown().then(() => exitWhenIdle(1));
  };
  try {
    server = await startServer(config, log, { onFatal });
  } catch (err) {
    // startServer stopped whatever it had started before rethrowing.
    reportStartFailure(log, err);
    exitWhenIdle(1);
    return 1;
  }
  if (fatal) {
    await server.shutdown();
    exitWhenIdle(1);
    return 1;
  }
  const running = server;
  // SIGTERM/SIGINT: readiness false, drain, close; a second signal or the
  // deadline (shutdown delay + 30 s) forces the exit.
  signals = closeWithGrace({ delay: config.shutdownDelayMs + 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'unexpected error, shutting down');
    else log.info({ signal }, 'signal received');
    await running.shutdown();
  });
  return -1;
}

/** The structured line for the logs (with the error's code), and beside it one line for the person who started it. */
function reportStartFailure(log: Logger, err: unknown): void {
  log.fatal({ err }, 'cannot start');
  process.stderr.write(`wi-admission: ${((err as Error).message ?? String(err)).replace(/\s*\n\s*/g, '; ')}\n`);
}

/**
 * Sets the exit code and lets the process end once nothing is left running.
 * Should a leaked handle keep it alive, the unref'd timer ends it anyway and
 * says so, so a failed start never leaves a process that serves nothing.
 */
function exitWhenIdle(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(`wi-admission: still running ${EXIT_DEADLINE_MS / 1000} s after stopping; exiting\n`);
    process.exit(code);
  }, EXIT_DEADLINE_MS).unref();
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`wi-admission: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
