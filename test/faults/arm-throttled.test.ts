// ARM slow or throttling, on the real executable with an `arm:` identity
// source (see arm-server.ts for how it reaches the stand-ins with TLS
// verification on): a 429 storm and slow pages. Every test also checks that
// neither the client secret nor a token reaches the logs.
import t from 'tap';
import { eventually, getText } from '../helpers/https-client.js';
import { CHECKOUT, armIdentity, assertArmLogsClean, metricsText, startArmServer, type ArmServer } from './arm-server.js';
import { sumMetric } from './support.js';

const UNKNOWN = (n: number): string => `0e0e0e0e-0000-4000-8000-${String(n).padStart(12, '0')}`;
const armRequests = (s: ArmServer) => s.arm.armRequests();
const listings = (s: ArmServer) => armRequests(s).filter((r) => /\/userAssignedIdentities\?/.test(r.url));

void t.test('a 429 storm: no ARM request before Retry-After has passed, never two listings at once, admissions answered meanwhile', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '1s']);
  await eventually(() => s.ready(), 30_000, 'ready');
  const start = armRequests(s).length;
  s.arm.delayMs = 200; // a listing in flight is long enough to be joined, or overlapped if single flight failed
  s.arm.failNext(429, { count: 3, headers: { 'Retry-After': '2' } });

  // Unknown client IDs each want a refresh: they join the one in flight or are answered from memory.
  const burst = (from: number) => Promise.all(Array.from({ length: 20 }, (_, i) => s.validate(`u-${from + i}`, UNKNOWN(from + i))));
  const first = await burst(0);
  await eventually(() => armRequests(s).filter((r) => r.status === 429).length >= 2, 20_000, 'the second 429');
  const second = await burst(100);
  await eventually(async () => sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'success' }) >= 2 && armRequests(s).filter((r) => r.status === 429).length === 3, 30_000, 'a successful refresh after the storm');

  const storm = armRequests(s).slice(start);
  const throttled = storm.filter((r) => r.status === 429);
  t.equal(throttled.length, 3, 'three 429s answered');
  for (const r of throttled) {
    const early = storm.filter((q) => (q.at ?? 0) > (r.at ?? 0) && (q.at ?? 0) < (r.at ?? 0) + 2000);
    t.same(early.map((q) => q.url), [], `nothing sent to ARM within Retry-After (2 s) of the 429 at ${Math.round(r.at ?? 0)} ms`);
  }
  const pages = listings(s);
  const overlapping = pages.filter((a, i) => pages.some((b, j) => j !== i && (b.at ?? 0) < (a.answeredAt ?? Infinity) && (a.at ?? 0) < (b.answeredAt ?? Infinity)));
  t.same(overlapping.map((r) => r.url), [], `no two listing requests in flight at once (${pages.length} listing requests)`);
  t.equal(sumMetric(await metricsText(s), 'wi_admission_inventory_refreshes_total', { result: 'throttled' }), 3, 'each 429 counted as throttled');
  t.ok(s.logLines().some((l) => l.msg === 'inventory refresh failed, serving the last good inventory' && l.retryAfterMs === 2000), 'the Retry-After is logged');

  const answers = [...first, ...second];
  const otherwise = answers.filter((a) => a.allowed || !/\[UnknownIdentity\]$/.test(a.status?.message ?? ''));
  t.same(otherwise.map((a) => `${a.uid}: ${a.status?.message ?? 'allowed'}`), [], `all ${answers.length} unknown client IDs answered from the inventory it had (UnknownIdentity)`);
  t.same(await s.validate('u-after', CHECKOUT), { uid: 'u-after', allowed: true });
  assertArmLogsClean(t, s);
});

void t.test('slow pages: lookups wait at most their bound, answering before the listing in flight ends', async (t) => {
  const s = await startArmServer(t, ['--identity-refresh', '10m'], (arm) => {
    arm.pageSize = 1;
    arm.identities.push(armIdentity('id-search-prod', '7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d', 'search-team', '3'));
    arm.delayMs = 2000; // three pages: at least 6 s per listing
  });
  /** When the listing whose first page was asked for after `since` sent its last page (once it has). */
  const listingEnd = async (since: number): Promise<number> => {
    const pages = () => listings(s).filter((r) => (r.at ?? 0) > since);
    await eventually(() => pages().length === 3 && pages().every((r) => r.answeredAt !== undefined), 30_000, 'the listing completed');
    return Math.max(...pages().map((r) => r.answeredAt ?? Infinity));
  };

  // The first listing: not ready, and an admission is not held until it ends.
  t.match(JSON.parse((await getText(s.healthPort, '/readyz')).body), { ready: false, checks: { identityInventory: false } });
  const early = await s.validate('u-early', CHECKOUT);
  const earlyAt = performance.now();
  t.equal(early.allowed, false);
  t.match(early.status?.message, /the identity inventory has not loaded yet \(the first listing is still in progress\).*\[InventoryUnavailable\]$/);
  t.ok(earlyAt < (await listingEnd(0)), 'answered before the first listing ended');
  await eventually(() => s.ready(), 30_000, 'ready after the slow first listing');

  // Federated credentials listed once, quickly, so what follows only waits on listings. The drift
  // audit asks for them as soon as the inventory loads: wait for that answer (at the slow pace) first.
  await eventually(() => armRequests(s).some((r) => /\/federatedIdentityCredentials/.test(r.url) && r.answeredAt !== undefined), 30_000, 'the audit\'s credential listing');
  s.arm.delayMs = 0;
  t.same(await s.validate('u-known', CHECKOUT), { uid: 'u-known', allowed: true });
  s.arm.delayMs = 2000;

  const sent = performance.now();
  const unknown = await s.validate('u-unknown', UNKNOWN(1));
  const unknownAt = performance.now();
  t.match(unknown.status?.message, /\[UnknownIdentity\]$/);
  const known = await s.validate('u-known-2', CHECKOUT);
  const knownAt = performance.now();
  t.same(known, { uid: 'u-known-2', allowed: true });
  const end = await listingEnd(sent);
  t.ok(unknownAt < end, 'the unknown client ID started a listing and was answered before it ended');
  t.ok(knownAt < end, 'a known client ID was answered from memory while that listing ran');
  assertArmLogsClean(t, s);
});
