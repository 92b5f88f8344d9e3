import { readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PolicyFile } from '../../src/policy/policy-file.js';
import { eventually, GENEROUS_WAIT_MS } from '../helpers/https-client.js';
import { createLogSink } from '../helpers/log-sink.js';

const good = readFileSync(new URL('../../examples/policy.yaml', import.meta.url), 'utf8');

/** The example policy in a test directory, reloaded only when a test says so; reload results and logs recorded. */
function watchedPolicy(t: Test): { path: string; sink: ReturnType<typeof createLogSink>; results: string[]; file: PolicyFile } {
  const path = join(t.testdir({ 'policy.yaml': good }), 'policy.yaml');
  const sink = createLogSink();
  const results: string[] = [];
  // Neither the poll nor the directory watch may reload on their own while a test runs (a busy machine
  // delays the test, not the timers): their periods are far longer than any test here.
  const file = new PolicyFile({ path, log: sink.log, onReload: (r) => void results.push(r), pollMs: 600_000, debounceMs: 600_000 });
  t.teardown(() => file.close());
  return { path, sink, results, file };
}

void t.test('edits are picked up; a bad edit or a deleted file keeps the last good policy', async (t) => {
  const { path, sink, results, file } = watchedPolicy(t);
  t.equal((await file.start()).rules.length, 2);

  writeFileSync(path, good.replace('onMissingFederatedCredential: warn', 'onMissingFederatedCredential: deny'));
  await file.reload();
  t.equal(file.policy()?.onMissingFederatedCredential, 'deny', 'an edit is applied');

  writeFileSync(path, good.replace('action: deny', 'action: block'));
  await file.reload();
  t.equal(file.policy()?.onMissingFederatedCredential, 'deny', 'still the last good policy');
  t.match(file.pendingError(), /spec\.rules\[0\]\.action: must be deny, warn or audit/);
  t.ok(sink.lines.some((l) => l.msg === 'policy rejected, keeping the last good policy' && String(l.error).includes('rules[0].action')), 'logged with the field');

  unlinkSync(path);
  await file.reload();
  t.equal(file.policy()?.rules.length, 2, 'a deleted file keeps the policy');
  t.same(results, ['loaded', 'error', 'error']);

  writeFileSync(path, good);
  await file.reload();
  t.equal(file.pendingError(), undefined, 'a good file clears the error');
  t.equal(file.policy()?.onMissingFederatedCredential, 'warn');
});

void t.test('a change on disk is noticed without calling reload', async (t) => {
  const dir = t.testdir({ 'policy.yaml': good });
  const path = join(dir, 'policy.yaml');
  const file = new PolicyFile({ path, log: createLogSink().log, debounceMs: 10, pollMs: 50 });
  t.teardown(() => file.close());
  await file.start();
  writeFileSync(path, good.replace('clusterName: aks-prod-a', 'clusterName: aks-prod-b'));
  await eventually(() => file.policy()?.clusterName === 'aks-prod-b', GENEROUS_WAIT_MS, 'the edited policy loaded');
  t.equal(file.policy()?.clusterName, 'aks-prod-b');
});

void t.test('a bad first policy refuses to start, naming the field', async (t) => {
  const dir = t.testdir({ 'policy.yaml': 'apiVersion: wi-admission.io/v1\nkind: IdentityPolicy\nspec: {defaultAction: maybe}\n' });
  const file = new PolicyFile({ path: join(dir, 'policy.yaml'), log: createLogSink().log });
  await t.rejects(file.start(), /spec\.defaultAction: must be deny, warn or audit/);
});

void t.test('deleted, restored unchanged, deleted again: both failures are reported', async (t) => {
  const { path, sink, results, file } = watchedPolicy(t);
  await file.start();
  unlinkSync(path);
  await file.reload();
  writeFileSync(path, good);
  await file.reload();
  t.equal(file.pendingError(), undefined, 'restoring the same good file clears the error');
  unlinkSync(path);
  await file.reload();
  t.same(results, ['error', 'loaded', 'error'], 'the second deletion is counted');
  t.equal(sink.lines.filter((l) => l.msg === 'policy rejected, keeping the last good policy').length, 2, 'and logged');
});
