// The README's platform-team section is real: every command block runs, in
// order, in a copy of this checkout, as a reader would run it: the CLI is
// installed the way the README says (npm ci, build, npm link), `console`
// blocks print exactly the output shown, `sh` blocks exit 0, and the CI
// snippets' commands run as their pipelines would run them. `az` and
// `docker` are stood in for (no Azure account, no Docker engine here): the
// az stand-in answers from examples/identities.json in the shapes the Azure
// CLI prints; the docker stand-in runs the image's CLI path from the copy.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { sarifValidator } from '../helpers/sarif.js';

const root = new URL('../..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

interface Block {
  readonly lang: string;
  readonly text: string;
}

/** The fenced blocks of the README section under `## <heading>`. */
function blocksUnder(heading: string): Block[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  // Fences may be indented (inside a list item); the block's lines are too.
  return [...section.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```$/gm)].map((m) => {
    const indent = m[1] ?? '';
    const text = (m[3] ?? '').split('\n').map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join('\n');
    return { lang: m[2] ?? '', text };
  });
}

const AZ_STAND_IN = `#!/usr/bin/env node
// Stands in for the Azure CLI: the three commands the README uses, answered from examples/identities.json.
const { readFileSync } = require('node:fs');
const args = process.argv.slice(2);
const option = (name) => { const i = args.indexOf(name); return i === -1 ? undefined : args[i + 1]; };
const identities = JSON.parse(readFileSync(process.env.AZ_STAND_IN_IDENTITIES, 'utf8'));
const command = args.filter((a) => !a.startsWith('-')).slice(0, 3).join(' ');
if (command.startsWith('acr login')) { console.log('Login Succeeded'); process.exit(0); }
if (command === 'identity list' || command.startsWith('identity list ')) {
  console.log(JSON.stringify(identities.map(({ federatedCredentials, ...identity }) => identity), null, 2));
  process.exit(0);
}
if (command.startsWith('identity federated-credential list')) {
  const identity = identities.find((i) => i.name === option('--identity-name') && i.resourceGroup.toLowerCase() === String(option('--resource-group')).toLowerCase());
  if (!identity) { console.error('(ResourceNotFound) identity not found'); process.exit(3); }
  console.log(JSON.stringify(identity.federatedCredentials ?? [], null, 2));
  process.exit(0);
}
console.error('az stand-in: not a command the README uses: ' + args.join(' '));
process.exit(2);
`;

const DOCKER_STAND_IN = `#!/usr/bin/env node
// Stands in for \`docker run\` of the wi-admission image: /app is the checkout, -v and -w are honoured.
const { spawnSync } = require('node:child_process');
const args = process.argv.slice(2);
if (args[0] !== 'run') { console.error('docker stand-in: only run'); process.exit(2); }
const mounts = new Map();
let workdir = '/';
let i = 1;
for (; i < args.length && args[i].startsWith('-'); i++) {
  if (args[i] === '--rm') continue;
  if (args[i] === '-v') { const [host, container] = args[++i].split(':'); mounts.set(container, host); continue; }
  if (args[i] === '-w') { workdir = args[++i]; continue; }
  console.error('docker stand-in: unknown option ' + args[i]); process.exit(2);
}
const image = args[i];
const [entry, ...rest] = args.slice(i + 1);
if (!/\\/wi-admission:/.test(image) || entry !== '/app/dist/src/main.js') { console.error('docker stand-in: expected <registry>/wi-admission:<tag> /app/dist/src/main.js, got ' + image + ' ' + entry); process.exit(2); }
const cwd = mounts.get(workdir);
if (!cwd) { console.error('docker stand-in: -w ' + workdir + ' is not a mounted directory'); process.exit(2); }
const run = spawnSync(process.execPath, [process.env.DOCKER_STAND_IN_APP + '/dist/src/main.js', ...rest], { cwd, stdio: 'inherit' });
process.exit(run.status ?? 1);
`;

interface Shell {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function bash(flags: string[], script: string, cwd: string, env: NodeJS.ProcessEnv): Shell {
  const run = spawnSync('bash', [...flags, '-c', script], { cwd, env, encoding: 'utf8', timeout: 240_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

void t.test("the platform-team section of the README runs as written", async (t) => {
  const blocks = blocksUnder('For platform teams');
  t.ok(blocks.length >= 6, `found ${blocks.length} blocks`);

  // A copy of this checkout (tracked and new files, no node_modules or build output), as a reader would have.
  const base = t.testdir({});
  const checkout = join(base, 'checkout');
  const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' }).stdout.split('\0').filter((f) => f !== '');
  t.ok(files.includes('README.md'), 'the checkout is listed');
  for (const file of files) {
    mkdirSync(dirname(join(checkout, file)), { recursive: true });
    cpSync(join(root, file), join(checkout, file));
  }
  const standIns = join(base, 'stand-ins');
  mkdirSync(standIns);
  writeFileSync(join(standIns, 'az'), AZ_STAND_IN);
  writeFileSync(join(standIns, 'docker'), DOCKER_STAND_IN);
  chmodSync(join(standIns, 'az'), 0o755);
  chmodSync(join(standIns, 'docker'), 0o755);
  const prefix = join(base, 'npm-prefix');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: [join(prefix, 'bin'), standIns, process.env.PATH].join(':'),
    // npm link installs into this prefix, not the machine's global one.
    npm_config_prefix: prefix,
    AZ_STAND_IN_IDENTITIES: join(root, 'examples/identities.json'),
    DOCKER_STAND_IN_APP: checkout,
  };
  delete env.AZURE_TENANT_ID;

  for (const [index, block] of blocks.entries()) {
    const name = `block ${index + 1} (${block.lang}): ${block.text.split('\n')[0]}`;
    if (block.lang === 'sh') {
      const run = bash(['-euo', 'pipefail'], block.text, checkout, env);
      t.equal(run.status, 0, `${name} exits 0`, { stderr: run.stderr.slice(-2000) });
    } else if (block.lang === 'console') {
      for (const step of block.text.split(/^\$ /m).filter((s) => s !== '')) {
        const [command = '', ...expected] = step.split('\n');
        const run = bash(['-o', 'pipefail'], `${command} 2>&1`, checkout, env);
        t.equal(run.stdout, expected.join('\n'), `$ ${command}`);
      }
    } else if (block.lang === 'yaml') {
      runPipeline(t, parseYaml(block.text) as Pipeline, join(base, `pipeline-${index}`), env);
    } else {
      t.fail(`${name}: a block the test does not know how to run`);
    }
  }
  // The jq block rebuilt the file az prints without credentials into one with them.
  t.same(JSON.parse(readFileSync(join(checkout, 'identities.json'), 'utf8')), JSON.parse(readFileSync(join(root, 'examples/identities.json'), 'utf8')), 'identities.json with federated credentials');
});

interface Pipeline {
  env?: Record<string, string>;
  variables?: Record<string, string>;
  jobs?: Record<string, { steps: { run?: string; uses?: string; if?: string }[] }>;
  steps?: { task?: string; inputs?: { inlineScript?: string; scriptType?: string } }[];
}

/**
 * A GitHub Actions workflow or an Azure Pipelines pipeline, in an application
 * repository whose pull request borrows another team's identity: every
 * command step runs until one fails; the check must be the one that fails,
 * with the finding in its output.
 */
function runPipeline(t: Test, pipeline: Pipeline, app: string, baseEnv: NodeJS.ProcessEnv): void {
  cpSync(join(root, 'examples/demo'), join(app, 'deploy'), { recursive: true });
  cpSync(join(root, 'examples/policy.yaml'), join(app, 'platform/policy.yaml'));
  if (pipeline.jobs) {
    const env = { ...baseEnv, ...pipeline.env };
    const steps = Object.values(pipeline.jobs).flatMap((job) => job.steps);
    t.ok(steps.some((s) => s.uses?.startsWith('github/codeql-action/upload-sarif') && s.if === 'always()'), 'GitHub: the SARIF is uploaded even when the check fails');
    const scripts = steps.flatMap((s) => (s.run ? [s.run] : []));
    t.ok(scripts.every((s) => !s.includes('${{')), 'GitHub: run steps use env vars, not expressions (what runs here is what runs there)');
    const results = runUntilFailure(scripts, ['-e'], app, env);
    t.same(results.map((r) => r.status), [...Array(scripts.length - 1).fill(0), 1], 'GitHub: every step passes but the check, which fails the job');
    const sarif = JSON.parse(readFileSync(join(app, 'wi.sarif'), 'utf8')) as { runs: { results: { ruleId: string; level: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[] };
    t.ok(sarifValidator()(sarif), 'GitHub: wi.sarif is valid SARIF 2.1.0');
    const location = (r: (typeof sarif.runs)[number]['results'][number]): string => `${r.locations[0]?.physicalLocation.artifactLocation.uri}:${r.locations[0]?.physicalLocation.region.startLine}`;
    const annotations = sarif.runs[0]?.results ?? [];
    t.same(annotations.filter((r) => r.level === 'error').map((r) => [r.ruleId, location(r)]), [['IdentityNotApproved', 'deploy/borrowed-identity.yaml:2']], 'GitHub: the error annotation lands on the borrowed identity');
    // `az identity list` prints no federated credentials: unknown, so nothing to report about them.
    t.same(annotations.map((r) => [r.ruleId, location(r)]), [['IdentityNotApproved', 'deploy/borrowed-identity.yaml:2']], 'GitHub: no other annotation');
    return;
  }
  const env = { ...baseEnv, ...pipeline.variables };
  const scripts = (pipeline.steps ?? []).flatMap((s) => (s.task === 'AzureCLI@2' && s.inputs?.scriptType === 'bash' && s.inputs.inlineScript ? [s.inputs.inlineScript] : []));
  t.equal(scripts.length, 1, 'Azure Pipelines: one AzureCLI@2 bash step');
  const results = runUntilFailure(scripts, [], app, env);
  t.equal(results[0]?.status, 1, 'Azure Pipelines: the check fails the run');
  t.match(results[0]?.stdout, /^deploy\/borrowed-identity\.yaml:2: error: ServiceAccount checkout-prod\/batch is not allowed to use client ID .*\[IdentityNotApproved\]$/m, 'Azure Pipelines: the finding is in the log');
}

function runUntilFailure(scripts: readonly string[], flags: string[], cwd: string, env: NodeJS.ProcessEnv): Shell[] {
  const results: Shell[] = [];
  for (const script of scripts) {
    const run = bash(flags, script, cwd, env);
    results.push(run);
    if (run.status !== 0) break;
  }
  return results;
}

void t.test("the cluster-admin install renders, and the webhook's ServiceAccount is the subject its federated credential names", async (t) => {
  const { helmBinary } = await import('../helpers/helm.js');
  const blocks = blocksUnder('For cluster admins').map((b) => b.text);
  const install = blocks.find((b) => b.startsWith('helm install'));
  const credential = blocks.find((b) => b.includes('az identity federated-credential create'));
  t.ok(install && credential, 'the install and credential blocks are there');
  const subject = /--subject (system:serviceaccount:\S+)/.exec(credential ?? '')?.[1];
  const dir = t.testdir({ 'wi-values.yaml': `policy:\n${readFileSync(join(root, 'examples/policy.yaml'), 'utf8').split('\nspec:\n')[1] ?? ''}` });
  // The reader's placeholders and Azure look-ups, filled in; `helm install` becomes `helm template`.
  const command = (install ?? '')
    .split('\n')
    .filter((line) => !line.startsWith('kubectl '))
    .join('\n')
    .replace(/^helm install/, `"${helmBinary()}" template`)
    .replaceAll('<tenant>', '72f988bf-86f1-41af-91ab-2d7cd011db47')
    .replaceAll('<subscription>', '3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9')
    .replace(/"\$\(az identity show [^)]*\)"/, '5b1e6f0a-3c2d-4e5f-8a9b-0c1d2e3f4a5b')
    .replace('platform/wi-values.yaml', join(dir, 'wi-values.yaml'));
  const rendered = bash(['-euo', 'pipefail'], command, root, process.env);
  t.equal(rendered.status, 0, 'helm template renders', { stderr: rendered.stderr });
  const documents = rendered.stdout.split(/^---$/m).map((d) => parseYaml(d) as { kind?: string; metadata?: { name: string; namespace?: string }; spec?: { template?: { spec?: { serviceAccountName?: string } } } } | null);
  const deployment = documents.find((d) => d?.kind === 'Deployment');
  const serviceAccount = documents.find((d) => d?.kind === 'ServiceAccount');
  t.equal(deployment?.spec?.template?.spec?.serviceAccountName, serviceAccount?.metadata?.name, 'the Deployment runs as the chart\'s ServiceAccount');
  t.equal(subject, `system:serviceaccount:${serviceAccount?.metadata?.namespace}:${serviceAccount?.metadata?.name}`, 'the README names its subject');
  t.ok(documents.some((d) => d?.kind === 'ValidatingWebhookConfiguration'), 'with a policy, the validating webhook is registered');
});
