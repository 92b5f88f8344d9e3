// The Node versions this project claims and the ones it tests agree:
// package.json `engines` is a range every installed package supports, npm ci
// says so on the Node running this test (CI runs the suite on the floor and
// on the image's Node), the floor run's pinned Node is the lowest version
// engines accepts, and the image run's is the Dockerfile's.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import semver from 'semver';
import t from 'tap';

const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string }; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
const pinned = JSON.parse(readFileSync(join(root, 'scripts/node-runtimes.json'), 'utf8')) as Record<'floor' | 'image', { version: string; integrity: string }>;
const engines = pkg.engines.node;

void t.test('every package npm ci installs supports every Node that engines accepts', async (t) => {
  t.ok(semver.validRange(engines), `engines ${engines} is a range`);
  const outside: string[] = [];
  let checked = 0;
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Very old packages wrote engines as a list of strings; none of those limit Node here.
    const node = entry.engines && !Array.isArray(entry.engines) ? entry.engines.node : undefined;
    if (path === '' || node === undefined) continue;
    checked++;
    if (!semver.subset(engines, node)) outside.push(`${path.replace(/^.*node_modules\//, '')}@${entry.version ?? '?'} needs ${node}`);
  }
  t.ok(checked > 50, `${checked} packages declare a Node range`);
  t.same(outside, [], `engines ${engines} is within each package's range`);
  t.same(lock.packages['']?.engines, pkg.engines, 'package-lock.json records the same engines');
});

void t.test('npm ci on this Node prints no EBADENGINE warning', async (t) => {
  // npm runs on this test's Node (first on PATH), as npm test and .ci/run run it.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const run = spawnSync('npm', ['ci', '--dry-run', '--no-audit', '--no-fund'], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, 'npm ci --dry-run succeeds', { stderr: run.stderr });
  t.notMatch(`${run.stdout}${run.stderr}`, /EBADENGINE/, `clean on Node ${process.version}`);
  t.ok(semver.satisfies(process.versions.node, engines), `Node ${process.version} is within engines ${engines}`);
});

void t.test('the floor run uses the lowest Node engines accepts', async (t) => {
  t.equal(pinned.floor.version, semver.minVersion(engines)?.version);
  t.ok(semver.satisfies(pinned.image.version, engines), `the image's Node ${pinned.image.version} is within engines too`);
});

void t.test("the image run uses the Node major of the Dockerfile's base images", async (t) => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1] ?? '');
  t.equal(bases.length, 3, 'build, dependencies and run stages');
  const majors = bases.map((image) => /(?:^node:|\/nodejs)(\d+)-/.exec(image)?.[1]);
  t.same(majors, bases.map(() => String(semver.major(pinned.image.version))), `${bases.join(', ')} are Node ${pinned.image.version}'s major`);
});

void t.test("the Node type definitions are the floor's", async (t) => {
  // Newer definitions would let code call APIs the floor does not have.
  t.equal(semver.major(pkg.devDependencies['@types/node'] ?? ''), semver.major(pinned.floor.version));
});
