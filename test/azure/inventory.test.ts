import t, { type Test } from 'tap';
import { IdentityInventory, type IdentityInventoryOptions, type LookupResult, type RefreshResult, type RefreshTrigger } from '../../src/azure/inventory.js';
import { isAppError } from '../../src/errors.js';
import { createLogSink } from '../helpers/log-sink.js';
import { credential, FakeIdentitySource, FakeWatchableSource, fakeTime, flush, identity, restError, throttledError } from './fakes.js';

const MIN = 60_000;

function build(t: Test, options: Partial<IdentityInventoryOptions> & { source?: FakeIdentitySource } = {}) {
  const source = options.source ?? new FakeIdentitySource();
  const time = fakeTime();
  const sink = createLogSink();
  const refreshes: `${RefreshTrigger}/${RefreshResult}`[] = [];
  const lookups: LookupResult[] = [];
  const sizes: number[] = [];
  const ages: number[] = [];
  const inventory = new IdentityInventory({
    sources: [source],
    log: sink.log,
    now: time.now,
    delay: time.delay,
    hooks: {
      onRefresh: (trigger, result) => void refreshes.push(`${trigger}/${result}`),
      onLookup: (result) => void lookups.push(result),
      onSize: (n) => void sizes.push(n),
      onAge: (s) => void ages.push(s),
    },
    ...options,
  });
  t.teardown(() => inventory.stop());
  return { inventory, source, time, sink, refreshes, lookups, sizes, ages };
}

void t.test('loads on start and answers known client IDs and principal IDs from memory', async (t) => {
  const { inventory, source, time, refreshes, lookups, sizes } = build(t);
  const a = identity(1, { tags: { owner: 'team-a' } });
  source.identities = [a, identity(2)];
  t.equal(inventory.hasLoaded(), false);
  t.equal(inventory.ageMs(), undefined);
  inventory.start();
  await flush();
  t.equal(inventory.hasLoaded(), true);
  t.equal(inventory.size(), 2);
  t.same(refreshes, ['scheduled/success']);
  t.same(sizes, [2]);

  t.same(await inventory.lookupClientId(a.clientId), { status: 'found', identity: a });
  t.same(await inventory.lookupClientId(a.clientId.toUpperCase()), { status: 'found', identity: a }, 'GUIDs compare case-insensitively');
  t.same(await inventory.lookupClientId(a.principalId.toUpperCase()), { status: 'principalId', identity: a }, 'a principal ID is recognised as such');
  t.equal(source.listCalls, 1, 'found and principalId answers need no listing');
  t.same(lookups, ['hit', 'hit', 'principal_id']);

  await time.advance(90_000);
  t.equal(inventory.ageMs(), 90_000);
});

void t.test('before the first load a lookup waits at most lookupWaitMs, then answers unavailable', async (t) => {
  const { inventory, source, time, lookups } = build(t, { lookupWaitMs: 2000 });
  source.identities = [identity(1)];
  source.hold = true;
  inventory.start();
  await flush();
  let answer: unknown;
  void inventory.lookupClientId(identity(1).clientId).then((a) => (answer = a));
  await time.advance(1000);
  t.equal(answer, undefined, 'still waiting after 1 s');
  await time.advance(1000);
  t.same(answer, { status: 'unavailable', reason: 'the identity inventory has not loaded yet (the first listing is still in progress)' });
  t.equal(source.listCalls, 1, 'the lookup joined the first listing instead of starting another');

  source.release();
  await flush();
  t.equal((await inventory.lookupClientId(identity(1).clientId)).status, 'found');
  t.same(lookups, ['unavailable', 'hit']);
});

void t.test('a failed first load answers unavailable with the reason', async (t) => {
  const { inventory, source } = build(t);
  source.listError = restError(403, 'AuthorizationFailed');
  inventory.start();
  await flush();
  const answer = await inventory.lookupClientId(identity(1).clientId);
  t.equal(answer.status, 'unavailable');
  t.match(answer, { reason: /has not loaded yet \(last listing failed: fake:identities: ARM request failed \(HTTP 403 AuthorizationFailed\)/ });
  t.equal(inventory.hasLoaded(), false);
});

void t.test('100 concurrent lookups of unknown IDs share exactly one listing, then the negative cache answers', async (t) => {
  const { inventory, source, time, refreshes, lookups } = build(t);
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  t.equal(source.listCalls, 1);

  source.hold = true;
  const bad = Array.from({ length: 100 }, (_, i) => identity(1000 + i).clientId);
  const answers = Promise.all(bad.map((id) => inventory.lookupClientId(id)));
  await flush();
  t.equal(source.listCalls, 2, 'one listing for 100 unknown IDs');
  source.release();
  t.ok((await answers).every((a) => a.status === 'unknown'));
  t.same(refreshes, ['scheduled/success', 'unknown_id/success']);

  lookups.length = 0;
  t.same(await inventory.lookupClientId(bad[0] ?? ''), { status: 'unknown' });
  t.same(lookups, ['negative_hit']);
  await time.advance(59_000);
  await inventory.lookupClientId(bad[0] ?? '');
  t.equal(source.listCalls, 2, 'answered from the negative cache for its TTL');

  await time.advance(2000);
  await inventory.lookupClientId(bad[0] ?? '');
  t.equal(source.listCalls, 3, 'after the TTL, an unknown ID may refresh again');
});

void t.test('an ID created after the last listing is found by the refresh its lookup triggers', async (t) => {
  const { inventory, source } = build(t);
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  const created = identity(2);
  source.identities.push(created);
  t.same(await inventory.lookupClientId(created.clientId), { status: 'found', identity: created });
  t.equal(source.listCalls, 2);
});

void t.test('unknown-ID refreshes are rate-limited to one per minUnknownRefreshIntervalMs', async (t) => {
  const { inventory, source, time } = build(t, { minUnknownRefreshIntervalMs: 30_000 });
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  await inventory.lookupClientId(identity(101).clientId);
  t.equal(source.listCalls, 2);
  for (let i = 0; i < 29; i++) {
    await time.advance(1000);
    t.same(await inventory.lookupClientId(identity(200 + i).clientId), { status: 'unknown' });
  }
  t.equal(source.listCalls, 2, '29 new unknown IDs within 30 s: no listing, answered at once');
  await time.advance(1000);
  await inventory.lookupClientId(identity(300).clientId);
  t.equal(source.listCalls, 3, 'the next interval allows one more');
});

void t.test('a slow listing: the lookup gives up after lookupWaitMs without a negative entry, later callers join it', async (t) => {
  const { inventory, source, time, lookups } = build(t, { lookupWaitMs: 2000 });
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  source.hold = true;
  const late = identity(2);
  let first: unknown;
  void inventory.lookupClientId(late.clientId).then((a) => (first = a));
  await time.advance(2000);
  t.same(first, { status: 'unknown' }, 'answers from the current inventory after 2 s');
  let second: unknown;
  void inventory.lookupClientId(late.clientId).then((a) => (second = a));
  await flush();
  t.equal(source.listCalls, 2, 'the second lookup joined the listing in flight');
  source.identities.push(late);
  source.release();
  await flush();
  t.same(second, { status: 'found', identity: late });
  t.same(lookups, ['miss', 'hit']);
});

void t.test('scheduled refresh every refreshIntervalMs, never two listings at once', async (t) => {
  const { inventory, source, time, refreshes } = build(t, { refreshIntervalMs: 5 * MIN, minUnknownRefreshIntervalMs: 1000 });
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  await time.advance(5 * MIN - 1000);
  t.equal(source.listCalls, 1);
  await time.advance(1000);
  t.equal(source.listCalls, 2, 'refreshed after 5 min');

  // An unknown-ID listing in flight when the schedule comes due is shared.
  await time.advance(5 * MIN - 1000);
  source.hold = true;
  void inventory.lookupClientId(identity(9).clientId);
  await flush();
  t.equal(source.listCalls, 3);
  await time.advance(1000);
  t.equal(source.listCalls, 3, 'the scheduled refresh joined the one in flight');
  source.release();
  await flush();
  t.same(refreshes, ['scheduled/success', 'scheduled/success', 'unknown_id/success']);

  await time.advance(5 * MIN - 1000);
  t.equal(source.listCalls, 3, 'the next schedule counts from the last successful listing');
  await time.advance(1000);
  t.equal(source.listCalls, 4);
});

void t.test('errors keep the last good inventory up to maxStalenessMs, then lookups are unavailable; recovery', async (t) => {
  const { inventory, source, time, refreshes, sink } = build(t, {
    refreshIntervalMs: 5 * MIN,
    maxStalenessMs: 30 * MIN,
    errorBackoff: { initialMs: 10_000, maxMs: 5 * MIN },
  });
  const a = identity(1);
  source.identities = [a];
  inventory.start();
  await flush();
  source.listError = restError(500);
  await time.advance(5 * MIN);
  t.same(refreshes, ['scheduled/success', 'scheduled/error']);
  t.equal((await inventory.lookupClientId(a.clientId)).status, 'found', 'the last good inventory keeps answering');
  await time.advance(10_000);
  t.equal(source.listCalls, 3, 'retried after the initial backoff');
  await time.advance(20_000);
  t.equal(source.listCalls, 4, 'then after twice that');

  await time.advance(25 * MIN - 30_000);
  t.equal((await inventory.lookupClientId(a.clientId)).status, 'found', 'exactly maxStaleness old: still used');
  await time.advance(1000);
  const stale = await inventory.lookupClientId(a.clientId);
  t.equal(stale.status, 'unavailable');
  t.match(stale, { reason: /^the identity inventory is 30 min old, older than the 30 min allowed \(last listing failed: fake:identities: ARM request failed \(HTTP 500 InternalServerError\)/ });
  t.equal((await inventory.lookupClientId(identity(2).clientId)).status, 'unavailable', 'unknown IDs too');
  t.equal(inventory.hasLoaded(), true, 'readiness stays: the policy decides what unavailable means');
  t.equal(sink.lines.filter((l) => l.msg === 'inventory too stale to use').length, 1, 'logged once');
  const calls = source.listCalls;
  t.ok(calls <= 12, `backoff bounds the retries over 30 min (${calls} listings)`);

  source.listError = undefined;
  await time.advance(5 * MIN);
  t.same(await inventory.lookupClientId(a.clientId), { status: 'found', identity: a }, 'recovered');
  t.equal(inventory.ageMs() !== undefined && inventory.ageMs()! < 5 * MIN, true);
});

void t.test('429 with Retry-After: no listing of any kind before it; counted as throttled', async (t) => {
  const { inventory, source, time, refreshes } = build(t, { refreshIntervalMs: 5 * MIN, minUnknownRefreshIntervalMs: 1000 });
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  source.listError = throttledError('600');
  await time.advance(5 * MIN);
  t.same(refreshes, ['scheduled/success', 'scheduled/throttled']);
  source.listError = undefined;
  const calls = source.listCalls;
  await time.advance(599_000);
  t.same(await inventory.lookupClientId(identity(50).clientId), { status: 'unknown' }, 'answered from the inventory while throttled');
  t.equal(source.listCalls, calls, 'neither the schedule nor unknown IDs listed during Retry-After');
  await time.advance(1000);
  t.equal(source.listCalls, calls + 1, 'listed again once Retry-After passed');
  t.equal(refreshes.at(-1), 'scheduled/success');
});

void t.test('a listing is all or nothing across sources', async (t) => {
  const good = new FakeIdentitySource();
  const bad = new FakeIdentitySource();
  good.identities = [identity(1), identity(2)];
  bad.identities = [identity(2, { name: 'duplicate' }), identity(3)];
  const { inventory, sink } = build(t, { sources: [good, bad] });
  inventory.start();
  await flush();
  t.equal(inventory.size(), 3, 'a client ID listed twice counts once');
  const dup = await inventory.lookupClientId(identity(2).clientId);
  t.equal(dup.status === 'found' && dup.identity.name, 'id-2', 'the first source wins');
  t.ok(sink.lines.some((l) => l.msg === 'client IDs listed more than once; the first source listing them wins'));

  bad.listError = new Error('boom');
  good.identities = [];
  await inventory.lookupClientId(identity(77).clientId);
  t.equal(inventory.size(), 3, 'one failing source keeps the whole last good inventory');
});

void t.test('federated credentials: fetched once on first use (single-flight), cached, refreshed in the background', async (t) => {
  const { inventory, source, time } = build(t, { refreshIntervalMs: 5 * MIN });
  const a = identity(1);
  source.identities = [a];
  source.credentials.set(a.clientId, [credential('system:serviceaccount:ns:sa')]);
  inventory.start();
  await flush();
  t.equal(source.credentialCalls, 0, 'nothing fetched before first use');

  source.hold = true;
  const answers = Promise.all(Array.from({ length: 10 }, () => inventory.federatedCredentials(a)));
  await flush();
  t.equal(source.credentialCalls, 1, 'ten concurrent callers, one fetch');
  source.release();
  for (const answer of await answers) t.same(answer, { status: 'found', credentials: [credential('system:serviceaccount:ns:sa')] });

  await inventory.federatedCredentials(a);
  await time.advance(4 * MIN);
  await inventory.federatedCredentials(a);
  t.equal(source.credentialCalls, 1, 'cached');

  source.credentials.set(a.clientId, [credential('system:serviceaccount:ns:other')]);
  await time.advance(1 * MIN);
  t.equal(source.listCalls, 2);
  t.equal(source.credentialCalls, 2, 'refreshed after the scheduled listing, without an admission asking');
  t.same(await inventory.federatedCredentials(a), { status: 'found', credentials: [credential('system:serviceaccount:ns:other')] });
  t.equal(source.credentialCalls, 2);
});

void t.test('inline credentials (file source) are used as they are', async (t) => {
  const { inventory, source } = build(t);
  const inline = identity(1, { federatedCredentials: [credential('system:serviceaccount:a:b')] });
  source.identities = [inline];
  inventory.start();
  await flush();
  t.same(await inventory.federatedCredentials(inline), { status: 'found', credentials: [credential('system:serviceaccount:a:b')] });
  t.equal(source.credentialCalls, 0);
});

void t.test('credential failures: bounded wait, stale answers up to maxStalenessMs, backoff, 404 means none', async (t) => {
  const { inventory, source, time } = build(t, {
    refreshIntervalMs: 5 * MIN,
    maxStalenessMs: 30 * MIN,
    lookupWaitMs: 2000,
    errorBackoff: { initialMs: 10_000, maxMs: 5 * MIN },
  });
  const a = identity(1);
  const b = identity(2);
  source.identities = [a, b];
  source.credentials.set(a.clientId, [credential('system:serviceaccount:ns:sa')]);
  inventory.start();
  await flush();

  source.hold = true;
  let slow: unknown;
  void inventory.federatedCredentials(a).then((r) => (slow = r));
  await time.advance(2000);
  t.same(slow, { status: 'unavailable', reason: 'the federated credentials of id-1 (c11e0000-0000-0000-0000-000000000001) could not be listed (no answer within 2000 ms)' });
  source.release();
  await flush();
  t.equal((await inventory.federatedCredentials(a)).status, 'found', 'the slow fetch completed in the background');

  source.credentialError = restError(503, 'ServiceUnavailable');
  source.listError = restError(503, 'ServiceUnavailable');
  await time.advance(6 * MIN);
  const calls = source.credentialCalls;
  t.same(await inventory.federatedCredentials(a), { status: 'found', credentials: [credential('system:serviceaccount:ns:sa')] }, 'stale but within bounds');
  t.equal(source.credentialCalls, calls + 1, 'a stale read revalidates in the background');
  await inventory.federatedCredentials(a);
  t.equal(source.credentialCalls, calls + 1, 'failures back off: no fetch per admission');
  await time.advance(25 * MIN);
  const gone = await inventory.federatedCredentials(a);
  t.equal(gone.status, 'unavailable');
  t.match(gone, { reason: /were last listed 3\d min ago, longer than the 30 min allowed \(ARM request failed \(HTTP 503 ServiceUnavailable\)/ });

  source.credentialError = restError(404, 'ResourceNotFound');
  t.same(await inventory.federatedCredentials(b), { status: 'found', credentials: [] }, 'a deleted identity trusts nothing');
});

void t.test('a source change refreshes at once; a change during a listing is not lost', async (t) => {
  const source = new FakeWatchableSource();
  const { inventory, refreshes } = build(t, { source });
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  source.identities.push(identity(2));
  source.onChange?.();
  await flush();
  t.equal(inventory.size(), 2);

  source.hold = true;
  source.onChange?.();
  await flush();
  source.identities.push(identity(3));
  source.onChange?.();
  source.release();
  await flush();
  t.equal(inventory.size(), 3, 'the change seen mid-listing caused one more listing');
  t.same(refreshes, ['scheduled/success', 'source_change/success', 'source_change/success', 'source_change/success']);
  await inventory.stop();
  t.equal(source.unwatched, true, 'stop() ends the watch');
});

void t.test('stop() clears every timer and abandons the listing in flight', async (t) => {
  const { inventory, source, time } = build(t);
  source.identities = [identity(1)];
  inventory.start();
  await flush();
  t.ok(time.pendingTimers() > 0, 'the schedule waits on a timer');
  source.hold = true;
  void inventory.lookupClientId(identity(5).clientId);
  await flush();
  await inventory.stop();
  t.equal(source.signals.at(-1)?.aborted, true, 'the source saw the abort');
  t.equal(time.pendingTimers(), 0);
  source.release(); // it ignored the abort; stop() did not wait for it
});

void t.test('a hung source call fails after requestTimeoutMs, freeing the single flight', async (t) => {
  const { inventory, source, time, refreshes } = build(t, { requestTimeoutMs: 60_000, errorBackoff: { initialMs: 1000, maxMs: 1000 } });
  source.identities = [identity(1)];
  source.hold = true;
  inventory.start();
  await time.advance(60_000);
  t.same(refreshes, ['scheduled/error']);
  source.release();
  await time.advance(1000);
  t.equal(inventory.hasLoaded(), true, 'the retry succeeded');
});

void t.test('options are validated where they enter', async (t) => {
  const log = createLogSink().log;
  const cases: [Partial<IdentityInventoryOptions>, RegExp][] = [
    [{ sources: [] }, /at least one identity source/],
    [{ refreshIntervalMs: 0 }, /refreshIntervalMs must be a positive number, got 0/],
    [{ lookupWaitMs: -1 }, /lookupWaitMs must be a non-negative number/],
    [{ negativeCacheTtlMs: Number.NaN }, /negativeCacheTtlMs must be a positive number, got NaN/],
    [{ maxCachedCredentials: 1.5 }, /maxCachedCredentials must be an integer/],
    [{ refreshIntervalMs: 10 * MIN, maxStalenessMs: 5 * MIN }, /maxStalenessMs \(300000\) must be at least refreshIntervalMs \(600000\)/],
  ];
  for (const [options, message] of cases) {
    const err = (() => {
      try {
        new IdentityInventory({ sources: [new FakeIdentitySource()], log, ...options });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isAppError(err, 'WIA_ERR_INVENTORY_OPTIONS_INVALID'), JSON.stringify(options));
    t.match((err as Error | undefined)?.message, message);
  }
});

void t.test('credentials a file does not give are unknown, not none, and the listing says how many', async (t) => {
  const listed: unknown[] = [];
  const { inventory, source } = build(t, { hooks: { onListed: (summary) => void listed.push(summary) } });
  const unknown = identity(1, { federatedCredentials: 'unknown' });
  const none = identity(2, { federatedCredentials: [] });
  source.identities = [unknown, none, identity(3, { federatedCredentials: 'unknown', resourceGroup: 'rg-3' })];
  t.equal(inventory.summary(), undefined, 'nothing before the first listing');
  inventory.start();
  await flush();
  t.same(await inventory.federatedCredentials(unknown), { status: 'unknown', reason: 'fake:identities gives no federatedCredentials for id-1' });
  t.same(await inventory.federatedCredentials(none), { status: 'found', credentials: [] }, 'an explicit empty list trusts nothing');
  t.equal(source.credentialCalls, 0, 'neither asks the source');
  const summary = { identities: 3, duplicates: 0, unknownCredentials: [{ source: 'fake:identities', count: 2, examples: ['rg-1/id-1', 'rg-3/id-3'] }] };
  t.same(inventory.summary(), summary);
  t.same(listed, [summary], 'reported after the listing');
});

void t.test('credential lists not asked for within credentialIdleMs are dropped by the sweep, not refreshed', async (t) => {
  const { inventory, source, time } = build(t, { refreshIntervalMs: 5 * MIN, credentialIdleMs: 8 * MIN });
  const a = identity(1);
  const b = identity(2);
  source.identities = [a, b];
  inventory.start();
  await flush();
  await inventory.federatedCredentials(a);
  await inventory.federatedCredentials(b);
  t.equal(source.credentialCalls, 2);
  await time.advance(4 * MIN);
  await inventory.federatedCredentials(a);
  await time.advance(1 * MIN);
  t.equal(source.credentialCalls, 4, 'both refreshed after the first scheduled listing (each asked within 8 min)');
  await time.advance(5 * MIN);
  t.equal(source.credentialCalls, 5, 'at 10 min only a (asked at 4 min) is refreshed; b (asked at 0) is idle and dropped');
  await inventory.federatedCredentials(b);
  t.equal(source.credentialCalls, 6, 'b is fetched again when asked');
});
