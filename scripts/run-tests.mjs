#!/usr/bin/env node
// `npm test`: type check, lint, then every tap test, ending with the line
// `N passed, N failed` (CI reads that line, not tap's own summary). Exits
// non-zero on any failure. The full TAP stream is kept in .tap/report.tap.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { Parser } from 'tap-parser';

const results = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function run(command, args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: options.stdout ? ['ignore', 'pipe', 'inherit'] : 'inherit', env: process.env });
    if (options.stdout) options.stdout(child.stdout);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function step(name, command, args) {
  process.stdout.write(`\n== ${name}\n`);
  const code = await run(command, args);
  if (code === 0) {
    results.passed++;
    process.stdout.write(`ok: ${name}\n`);
  } else {
    results.failed++;
    failures.push(`${name} (exit ${code})`);
    process.stdout.write(`FAILED: ${name} (exit ${code})\n`);
  }
}

await step('type check (tsc --noEmit)', 'npx', ['tsc', '--noEmit', '-p', '.']);
await step('lint (eslint)', 'npx', ['eslint', '.']);

const extra = process.argv.slice(2);
// The end-to-end suite needs a real control plane, built from Go modules once
// per version (minutes the first time). Building it here rather than inside
// the test keeps its progress visible and out of the test's timeout. Without
// Go the suite reports itself skipped with the reason, except under CI=true.
if (extra.length === 0 || extra.some((a) => a.includes('e2e'))) {
  process.stdout.write('\n== control plane for the end-to-end suite (scripts/build-control-plane.sh)\n');
  const code = await run('bash', ['scripts/build-control-plane.sh'], { stdout: (s) => s.resume() });
  if (code === 3 && process.env.CI !== 'true') {
    process.stdout.write('Go is not installed: the end-to-end suite will be reported as skipped\n');
  } else if (code !== 0) {
    results.failed++;
    failures.push(`building the control plane (exit ${code})`);
    process.stdout.write(`FAILED: building the control plane (exit ${code})\n`);
  }
}

process.stdout.write('\n== tests (tap)\n');
mkdirSync('.tap', { recursive: true });
const raw = createWriteStream('.tap/report.tap');
const parser = new Parser();
const completed = new Promise((resolve) => parser.on('complete', resolve));
let sawPlan = false;
parser.on('plan', () => (sawPlan = true));
countLeafAsserts(parser);

// Every assertion is counted once: a subtest's own summary point (the line
// that closes it in its parent) is skipped, its assertions are counted.
function countLeafAsserts(p, parentState) {
  const state = { failed: 0, parent: parentState };
  const subtests = new Map();
  p.on('child', (child) => subtests.set(child.name, countLeafAsserts(child, state)));
  p.on('assert', (point) => {
    const subtest = subtests.get(point.name);
    if (subtest) {
      subtests.delete(point.name);
      // A subtest that failed with no failing assertion inside (a thrown
      // error, a timeout, a bad plan) still counts as one failure.
      if (!point.ok && !point.todo && !point.skip && subtest.failed === 0) recordFailure(point, state);
      return;
    }
    if (point.skip || point.todo) {
      results.skipped++;
      return;
    }
    if (point.ok) {
      results.passed++;
      return;
    }
    recordFailure(point, state);
  });
  return state;
}

function recordFailure(point, state) {
  results.failed++;
  for (let s = state; s; s = s.parent) s.failed++;
  const where = point.fullname || point.name;
  failures.push(where);
  process.stdout.write(`not ok - ${where}\n`);
  if (point.diag) process.stdout.write(`${JSON.stringify(point.diag, null, 2).split('\n').map((l) => `    ${l}`).join('\n')}\n`);
}
const tapCode = await run('npx', ['tap', '--reporter=tap', ...extra], {
  stdout: (stream) => {
    stream.pipe(raw);
    stream.pipe(parser);
  },
});
await completed;
if (tapCode !== 0 && results.failed === 0) {
  results.failed++;
  failures.push(`tap exited with ${tapCode}${sawPlan ? '' : ' before running any test'}`);
}

process.stdout.write('\n');
if (failures.length > 0) process.stdout.write(`Failures:\n${failures.map((f) => `  - ${f}`).join('\n')}\n\n`);
if (results.skipped > 0) process.stdout.write(`(${results.skipped} skipped or todo, not counted as passed)\n`);
process.stdout.write(`${results.passed} passed, ${results.failed} failed\n`);
process.exit(results.failed > 0 ? 1 : 0);
