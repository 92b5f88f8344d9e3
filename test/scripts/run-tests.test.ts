// `npm test`'s count (scripts/run-tests.mjs and scripts/tap-summary.ts): on
// TAP streams written to show each rule, then the runner itself on a few
// tiny test files in a scratch project.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { formatSummary, summarizeTap } from '../../scripts/tap-summary.js';

/** TAP as `tap --reporter=tap` writes it: one top-level subtest per file. */
function file(name: string, body: string, closing = `ok 1 - ${name} # time=1ms`): string {
  return `# Subtest: ${name}\n${body.replace(/^/gm, '    ')}\n${closing}\n`;
}
const stream = (...files: string[]): string => `TAP version 14\n1..${files.length}\n${files.join('\n')}`;

void t.test('every assertion once: subtests named with # or \\ are not counted again', async (t) => {
  // tap escapes `#` and `\` in the subtest's heading but not in its closing line.
  const s = await summarizeTap(stream(file('test/a.test.ts', '# Subtest: a \\# b \\\\ c\n    ok 1 - x \\# y\n    ok 2 - z \\\\ w\n    1..2\nok 1 - a \\# b \\\\ c # time=2ms\n1..1')));
  t.match(s, { passed: 2, failed: 0, skipped: 0, files: 1 });
});

void t.test('a whole file skipped with t.plan(0, reason) is counted as skipped and named', async (t) => {
  const s = await summarizeTap(stream(file('test/needs-go.test.ts', '1..0 # Go is not installed', 'ok 1 - test/needs-go.test.ts # SKIP Go is not installed'), file('test/b.test.ts', 'ok 1 - b\n1..1', 'ok 2 - test/b.test.ts')));
  t.match(s, { passed: 1, failed: 0, skipped: 1, files: 2 });
  t.same(s.skips, [{ name: 'test/needs-go.test.ts', reason: 'Go is not installed', wholeFile: true }]);
  t.match(formatSummary(s).join('\n'), /Skipped \(1\):\n {2}- test\/needs-go\.test\.ts \(whole file\): Go is not installed/);
});

void t.test('a file that asserted nothing fails unless it declared why', async (t) => {
  // An empty file, an early process.exit(0) and t.plan(0) without a reason all look like this.
  const s = await summarizeTap(stream(file('test/empty.test.ts', '1..0 # no tests found', 'ok 1 - test/empty.test.ts # SKIP no tests found')));
  t.match(s, { passed: 0, failed: 1, skipped: 0 });
  t.match(s.failures, [{ name: 'test/empty.test.ts', wholeFile: true, reason: /the file ran no assertion \(tap: no tests found\).*t\.plan\(0, 'reason'\)/ }]);
});

void t.test('a subtest that asserted nothing is a failure', async (t) => {
  // What tap reported for a subtest whose assertion names held a U+2028.
  const s = await summarizeTap(stream(file('test/a.test.ts', '# Subtest: encodes\n    1..0 # no tests found\nok 1 - encodes # time=1ms\nok 2 - other\n1..2')));
  t.match(s, { passed: 1, failed: 1 });
  t.match(s.failures, [{ name: 'test/a.test.ts > encodes', reason: /the test ran no assertion/ }]);
});

void t.test('a skip must say why; todos are counted and named', async (t) => {
  const body = 'ok 1 - needs a cluster # SKIP no KUBECONFIG\nok 2 - bare # SKIP\nok 3 - later # TODO not written yet\nok 4 - fine\n1..4';
  const s = await summarizeTap(stream(file('test/a.test.ts', body)));
  t.match(s, { passed: 1, failed: 1, skipped: 1, todo: 1 });
  t.same(s.skips, [{ name: 'test/a.test.ts > needs a cluster', reason: 'no KUBECONFIG' }]);
  t.same(s.todos, [{ name: 'test/a.test.ts > later', reason: 'not written yet' }]);
  t.match(s.failures, [{ name: 'test/a.test.ts > bare', reason: /skipped without a reason/ }]);
  // A file whose only test is skipped for a stated reason declared why it asserts nothing.
  const declared = await summarizeTap(stream(file('test/e2e.test.ts', 'ok 1 - a real cluster # SKIP no control plane: Go is not installed\n1..1')));
  t.match(declared, { passed: 0, failed: 0, skipped: 1 });
});

void t.test('failures: each failing assertion once, and a subtest that failed with none inside', async (t) => {
  const failing = '# Subtest: checks\n    ok 1 - a\n    not ok 2 - b\n      ---\n      found: 1\n      wanted: 2\n      ...\n    1..2\nnot ok 1 - checks # time=1ms\n1..1';
  const thrown = '# Subtest: throws\n    1..0 # no tests found\nnot ok 1 - throws # time=1ms\n  ---\n  error: boom\n  ...\n1..1';
  const s = await summarizeTap(stream(file('test/a.test.ts', failing, 'not ok 1 - test/a.test.ts'), file('test/b.test.ts', thrown, 'not ok 2 - test/b.test.ts')));
  t.match(s, { passed: 1, failed: 2 });
  t.match(s.failures, [{ name: 'test/a.test.ts > checks > b', diag: { found: 1, wanted: 2 } }, { name: 'test/b.test.ts > throws', diag: { error: 'boom' } }]);
  // A file that crashed before its first test.
  const crashed = await summarizeTap(stream(file('test/c.test.ts', '1..0 # no tests found', 'not ok 1 - test/c.test.ts # time=3000ms')));
  t.match(crashed.failures, [{ name: 'test/c.test.ts', reason: /the file failed/ }]);
});

void t.test('a stream cut short or bailed out is a failure', async (t) => {
  const cut = await summarizeTap(`TAP version 14\n1..3\n${file('test/a.test.ts', 'ok 1 - a\n1..1')}`);
  t.match(cut, { passed: 1, failed: 1 });
  t.match(cut.failures, [{ reason: /incomplete/ }]);
  const bailed = await summarizeTap('TAP version 14\n1..2\nBail out! database gone\n');
  t.ok(bailed.failed >= 1, 'bail out counted');
  t.match(bailed.failures, [{ reason: /bailed out: database gone/ }]);
});

void t.test('property cases are added up from # fast-check comments at any depth', async (t) => {
  const a = file('test/a.test.ts', '# Subtest: p\n    # fast-check: 6000 cases\n    ok 1 - held\n    1..1\nok 1 - p\n1..1');
  const b = file('test/b.test.ts', '# fast-check: 20000 cases\nok 1 - held\n# fast-check: 1 case\nok 2 - held\n1..2', 'ok 2 - test/b.test.ts');
  const s = await summarizeTap(stream(a, b));
  t.match(s, { passed: 3, propertyCases: 26_001, properties: 3 });
  t.equal(formatSummary(s).at(-1), 'tests: 3 passed (+26001 fast-check cases in 3 properties), 0 failed, 0 skipped, 0 todo, in 2 files');
});

// --- the runner on a scratch project -----------------------------------------

const repo = new URL('../../', import.meta.url).pathname;

/** A project with its own type check, lint and tap settings and these test files; it borrows this repository's node_modules. */
function scratchProject(files: Record<string, string>): NonNullable<Parameters<typeof t.testdir>[0]> {
  return {
    node_modules: t.fixture('symlink', join(repo, 'node_modules')),
    'package.json': JSON.stringify({ type: 'module' }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { target: 'ES2023', rootDir: '.', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['test'] }),
    'eslint.config.js': 'export default [{}];\n',
    '.taprc': 'disable-coverage: true\ninclude:\n  - "test/**/*.test.ts"\n',
    test: files,
  };
}

/** `npm test -- files` in `cwd`, with the environment of a shell: none of the settings tap gives the test running this. */
function runTests(cwd: string, files: string[]): Promise<{ code: number | null; lines: string[] }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TAP|_TAPJS_|NODE_OPTIONS$|TS_NODE_)/.test(k)));
  const child = spawn(process.execPath, [join(repo, 'scripts', 'run-tests.mjs'), ...files], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, lines: out.trimEnd().split('\n') })));
}

const PASSING = `import t from 'tap';
t.test('a property', async (t) => {
  t.comment('fast-check: 250 cases');
  t.pass('held');
});
t.equal(1 + 1, 2);
`;
const SKIPPED = "import t from 'tap';\nt.plan(0, 'needs a GPU');\n";

void t.test('the runner: checks on their own lines, skips named, the last line, and the exit code', async (t) => {
  const dir = t.testdir({
    green: scratchProject({ 'pass.test.ts': PASSING, 'gpu.test.ts': SKIPPED }),
    red: scratchProject({ 'pass.test.ts': PASSING, 'empty.test.ts': "import t from 'tap';\nvoid t;\n" }),
  });
  const [green, red] = ['green', 'red'].map((name) => join(dir, name)) as [string, string];
  const [ok, failed] = await Promise.all([
    runTests(green, ['test/pass.test.ts', 'test/gpu.test.ts']),
    runTests(red, ['test/pass.test.ts', 'test/empty.test.ts']),
  ]);

  t.equal(ok.lines.at(-1), '2 passed, 0 failed', `the last line (output:\n${ok.lines.join('\n')})`);
  t.equal(ok.code, 0, 'exit 0');
  t.ok(ok.lines.includes('type check (tsc --noEmit): ok') && ok.lines.includes('lint (eslint): ok'), 'type check and lint print their own lines, not counted as tests');
  t.ok(ok.lines.includes('  - test/gpu.test.ts (whole file): needs a GPU'), 'the skipped file is named with its reason');
  t.ok(ok.lines.includes('tests: 2 passed (+250 fast-check cases in 1 properties), 0 failed, 1 skipped, 0 todo, in 2 files'), 'the totals, with the property cases');

  t.equal(failed.lines.at(-1), '2 passed, 1 failed', `the last line (output:\n${failed.lines.join('\n')})`);
  t.equal(failed.code, 1, 'exit 1');
  t.ok(failed.lines.some((l) => /^ {2}- test\/empty\.test\.ts: the file ran no assertion/.test(l)), 'the silent file is named among the failures');
});
