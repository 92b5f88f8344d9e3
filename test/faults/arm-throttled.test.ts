// ARM slow or throttling, on the real executable with an `arm:` identity
// source (see arm-server.ts for how it reaches the stand-ins with TLS
// verification on): a 429 storm and slow pages. Every test also checks that
// neither the client secret nor a token reaches the logs.
import t from 'tap';
import { eventually, GENEROUS_WAIT_MS, getText } from '../helpers/https-client.js';
import { CHECKOUT, armIdentity, assertArmLogsClean, assertLogged, metricsText, startArmServer, type ArmServer } from './arm-server.js';
import { sumMetric } from './support.js';

const UNKNOWN = (n: number): string => `0e0e0e0e-0000-4000-8000-${String(n).padStart(12, '0')}`;
const armRequests = (s: ArmServer) => s.arm.armRequests();
const listings = (s: ArmServer) => armRequests(s).filter((r) => /\/userAssignedIdentities\?/.test(r.url));

void t.test('a 429 storm: no listing before Retry-After has passed, never two listings at once, admissions answered meanwhile', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '1s']);
  await eventually(() => s.ready(), GENEROUS_WAIT_MS, 'ready');
  const start = armRequests(s).length;
  s.arm.delayMs = 200; // a listing in flight is long enough to be joined, or overlapped if single flight failed
  // The listings are throttled. The drift audit reads federated credentials meanwhile, and a read already on
  // its way when a 429 arrives would land inside the Retry-After by timing alone; those reads are answered.
  s.arm.failNext(429, { count: 3, headers: { 'Retry-After': '2' }, listingsOnly: true });

  // Unknown client IDs each want a refresh: they join the one in flight or are answered from memory.
  const burst = (from: number) => Promise.all(Array.from({ length: 20 }, (_, i) => s.validate(`u-${from + i}`, UNKNOWN(from + i))));
  const first = await burst(0);
  await eventually(() => armRequests(s).filter((r) => r.status === 429).length >= 2, GENEROUS_WAIT_MS, 'the second 429');
  const second = await burst(100);
  await eventually(async () => sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'success' }) >= 2 && armRequests(s).filter((r) => r.status === 429).length === 3, GENEROUS_WAIT_MS, 'a successful refresh after the storm');

  const storm = armRequests(s).slice(start);
  const throttled = storm.filter((r) => r.status === 429);
  t.equal(throttled.length, 3, 'three 429s answered');
  // Listings are single flight (checked below), so none was already on its way when a 429 came: any in its window was sent after it.
  const stormListings = storm.filter((r) => /\/userAssignedIdentities\?/.test(r.url));
  for (const r of throttled) {
    const early = stormListings.filter((q) => (q.at ?? 0) > (r.at ?? 0) && (q.at ?? 0) < (r.at ?? 0) + 2000);
    t.same(early.map((q) => q.url), [], `no listing sent to ARM within Retry-After (2 s) of the 429 at ${Math.round(r.at ?? 0)} ms`);
  }
  const pages = listings(s);
  const overlapping = pages.filter((a, i) => pages.some((b, j) => j !== i && (b.at ?? 0) < (a.answeredAt ?? Infinity) && (a.at ?? 0) < (b.answeredAt ?? Infinity)));
  t.same(overlapping.map((r) => r.url), [], `no two listing requests in flight at once (${pages.length} listing requests)`);
  t.equal(sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'throttled' }), 3, 'each 429 counted as throttled');
  await assertLogged(t, s, (l) => l.msg === 'inventory refresh failed, serving the last good inventory' && l.retryAfterMs === 2000, 'the Retry-After is logged');

  const answers = [...first, ...second];
  const otherwise = answers.filter((a) => a.allowed || !/\[UnknownIdentity\]$/.test(a.status?.message ?? ''));
  t.same(otherwise.map((a) => `${a.uid}: ${a.status?.message ?? 'allowed'}`), [], `all ${answers.length} unknown client IDs answered from the inventory it had (UnknownIdentity)`);
  t.same(await s.validate('u-after', CHECKOUT), { uid: 'u-after', allowed: true });
  assertArmLogsClean(t, s);
});

void t.test('a listing in flight never holds an admission: lookups wait at most their bound', async (t) => {
  // FakeArm holds the listings on cue, so "answered while the listing is still running" is observed, not raced.
  let releaseFirst = (): void => undefined;
  const s = await startArmServer(t, ['--identity-refresh', '10m'], (arm) => {
    arm.pageSize = 1;
    arm.identities.push(armIdentity('id-search-prod', '7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d', 'search-team', '3'));
    releaseFirst = arm.holdListings();
  });
  t.teardown(releaseFirst);
  /** Listing pages asked for after `since`, and whether every one has been answered. */
  const pagesSince = (since: number) => listings(s).filter((r) => (r.at ?? 0) > since);
  const answered = (since: number): boolean => pagesSince(since).length === 3 && pagesSince(since).every((r) => r.answeredAt !== undefined);

  // The first listing, held: not ready, and an admission is answered without waiting for it.
  await eventually(() => pagesSince(0).length > 0, GENEROUS_WAIT_MS, 'the first listing in flight');
  t.match(JSON.parse((await getText(s.healthPort, '/readyz')).body), { ready: false, checks: { identityInventory: false } });
  const early = await s.validate('u-early', CHECKOUT);
  t.equal(early.allowed, false);
  t.match(early.status?.message, /the identity inventory has not loaded yet \(the first listing is still in progress\).*\[InventoryUnavailable\]$/);
  t.same(pagesSince(0).map((r) => r.answeredAt), [undefined], 'answered while the first page of the first listing was still held');
  releaseFirst();
  await eventually(() => answered(0), GENEROUS_WAIT_MS, 'the first listing completed');
  await eventually(() => s.ready(), GENEROUS_WAIT_MS, 'ready after the first listing');
  // Federated credentials are listed once, now, so what follows only waits on listings.
  t.same(await s.validate('u-known', CHECKOUT), { uid: 'u-known', allowed: true });

  // An unknown client ID starts a listing; it is held, and the lookup is answered anyway.
  const sent = performance.now();
  const releaseSecond = s.arm.holdListings();
  t.teardown(releaseSecond);
  const unknown = await s.validate('u-unknown', UNKNOWN(1));
  t.match(unknown.status?.message, /\[UnknownIdentity\]$/);
  await eventually(() => pagesSince(sent).length > 0, GENEROUS_WAIT_MS, 'the listing the unknown client ID started');
  const known = await s.validate('u-known-2', CHECKOUT);
  t.same(known, { uid: 'u-known-2', allowed: true });
  t.same(pagesSince(sent).map((r) => r.answeredAt), [undefined], 'both answered while the listing was held: the unknown one after its bound, the known one from memory');
  releaseSecond();
  await eventually(() => answered(sent), GENEROUS_WAIT_MS, 'the second listing completed');
  assertArmLogsClean(t, s);
});
