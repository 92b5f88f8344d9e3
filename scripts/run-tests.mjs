#!/usr/bin/env node
// `npm test`: type check, lint, then every tap test, ending with the line
// `N passed, N failed` (CI reads that line, not tap's own summary). Exits
// non-zero on any failure. The full TAP stream is kept in .tap/report.tap.
//
// What counts (docs/development.md, "What npm test counts"):
// - passed/failed count assertions, each once; the type check, lint and the
//   control-plane build print their own lines and are not tests, but a
//   failing one counts as one failure;
// - a skip must give its reason and is named in the summary; a test or a
//   whole file that asserted nothing is a failure unless it declared why it
//   skips (`{ skip: 'reason' }`, or `t.plan(0, 'reason')` for a whole file);
// - property tests report their generated cases (`# fast-check: N cases`,
//   written by test/helpers/property.ts), printed next to the total.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { Parser } from 'tap-parser';
import { tsImport } from 'tsx/esm/api';

const { countTap, formatSummary } = await tsImport('./tap-summary.ts', import.meta.url);

/** Failures outside the TAP stream (checks, the control-plane build, tap itself). */
const otherFailures = [];
const checkLines = [];

function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: options.stdout ? ['ignore', 'pipe', 'inherit'] : 'inherit', env: process.env });
    if (options.stdout) options.stdout(child.stdout);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function check(name, command, args) {
  process.stdout.write(`\n== ${name}\n`);
  const code = await run(command, args);
  const line = code === 0 ? `${name}: ok` : `${name}: FAILED (exit ${code})`;
  if (code !== 0) otherFailures.push(`${name} (exit ${code})`);
  checkLines.push(line);
  process.stdout.write(`${line}\n`);
}

await check('type check (tsc --noEmit)', 'npx', ['tsc', '--noEmit', '-p', '.']);
await check('lint (eslint)', 'npx', ['eslint', '.']);

const extra = process.argv.slice(2);
// The end-to-end suite needs a real control plane, built from Go modules once
// per version (minutes the first time). Building it here rather than inside
// the test keeps its progress visible and out of the test's timeout. Without
// Go the suite reports itself skipped with the reason, except under CI=true.
if (extra.length === 0 || extra.some((a) => a.includes('e2e'))) {
  const name = 'control plane for the end-to-end suite (scripts/build-control-plane.sh)';
  process.stdout.write(`\n== ${name}\n`);
  const code = await run('bash', ['scripts/build-control-plane.sh'], { stdout: (s) => s.resume() });
  let line = `${name}: ok`;
  if (code === 3 && process.env.CI !== 'true') {
    line = `${name}: Go is not installed, the end-to-end suite will be reported as skipped`;
  } else if (code !== 0) {
    line = `${name}: FAILED (exit ${code})`;
    otherFailures.push(`building the control plane (exit ${code})`);
  }
  checkLines.push(line);
  process.stdout.write(`${line}\n`);
}

process.stdout.write('\n== tests (tap)\n');
mkdirSync('.tap', { recursive: true });
const raw = createWriteStream('.tap/report.tap');
const parser = new Parser();
const completed = new Promise((resolve) => parser.on('complete', resolve));
let sawPlan = false;
parser.on('plan', () => (sawPlan = true));
const summary = countTap(parser, (failure) => {
  process.stdout.write(`not ok - ${failure.name}: ${failure.reason}\n`);
  if (failure.diag) process.stdout.write(`${JSON.stringify(failure.diag, null, 2).split('\n').map((l) => `    ${l}`).join('\n')}\n`);
});

const tapCode = await run('npx', ['tap', '--reporter=tap', ...extra], {
  stdout: (stream) => {
    stream.pipe(raw);
    stream.pipe(parser);
  },
});
await completed;
if (tapCode !== 0 && summary.failed === 0) {
  otherFailures.push(`tap exited with ${tapCode}${sawPlan ? '' : ' before running any test'}`);
}

const failed = summary.failed + otherFailures.length;
const failures = [...otherFailures, ...summary.failures.map((f) => `${f.name}: ${f.reason}`)];
process.stdout.write('\n');
for (const line of checkLines) process.stdout.write(`${line}\n`);
if (failures.length > 0) process.stdout.write(`Failures (${failures.length}):\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
for (const line of formatSummary(summary)) process.stdout.write(`${line}\n`);
process.stdout.write(`${summary.passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
