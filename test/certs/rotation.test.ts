// The renewal rules as a table: each row is a state of the Secret, the
// published bundle and the replicas' reports, and the one change (or the
// wait) the rules ask for.
import t from 'tap';
import { decideRotation, rotationTiming, type RotationInput, type StoredState } from '../../src/certs/rotation.js';

const S = 1000;
const NOW = 1_000_000 * S;
const LEAF = 300 * S; // renewed when less than 100 s is left
const CA = 900 * S; // replaced when less than 300 s is left
const TIMING = { propagationMs: 10 * S, reportStaleMs: 60 * S };

const old = { fingerprint: 'old', notAfter: NOW + 800 * S };
const fresh = { fingerprint: 'new', notAfter: NOW + 900 * S };

/** Steady state: one CA that signs, a serving certificate of it with plenty of time left. */
const steady: StoredState = {
  bundle: [old],
  signer: { ...old, hasKey: true },
  next: undefined,
  leaf: { issuer: 'old', notAfter: NOW + 250 * S, coversHosts: true },
};

function input(over: Partial<RotationInput> & { stored?: RotationInput['stored'] } = {}): RotationInput {
  return {
    now: NOW,
    stored: steady,
    published: ['old'],
    nextPublishedSince: undefined,
    reports: [],
    validity: { leafMs: LEAF, caMs: CA },
    timing: TIMING,
    ...over,
  };
}

const report = (replica: string, cas: string[], ageS = 1) => ({ replica, cas, at: NOW - ageS * S });
const staged: StoredState = { ...steady, bundle: [old, fresh], next: fresh };
const draining: StoredState = { bundle: [old, fresh], signer: { ...fresh, hasKey: true }, next: undefined, leaf: { issuer: 'new', notAfter: NOW + 300 * S, coversHosts: true } };

const cases: [name: string, given: RotationInput, expected: { step?: string; reason?: RegExp; waiting?: RegExp }][] = [
  ['no Secret: create everything', input({ stored: { problem: 'the Secret does not exist' } }), { step: 'create', reason: /does not exist/ }],
  ['steady: nothing to do', input(), {}],
  ['a serving certificate with a third of its life left is renewed from the same CA', input({ stored: { ...steady, leaf: { issuer: 'old', notAfter: NOW + 99 * S, coversHosts: true } } }), { step: 'renew_leaf', reason: /less than a third/ }],
  ['a serving certificate that misses a host is renewed', input({ stored: { ...steady, leaf: { issuer: 'old', notAfter: NOW + 250 * S, coversHosts: false } } }), { step: 'renew_leaf', reason: /does not cover every host/ }],
  ['an unusable serving certificate is renewed while the CA can sign', input({ stored: { ...steady, leaf: undefined } }), { step: 'renew_leaf', reason: /cannot be used/ }],
  ['an expired serving certificate is renewed', input({ stored: { ...steady, leaf: { issuer: 'old', notAfter: NOW - S, coversHosts: true } } }), { step: 'renew_leaf', reason: /expired/ }],
  ['a serving certificate of a CA outside the bundle is renewed', input({ stored: { ...steady, leaf: { issuer: 'stranger', notAfter: NOW + 250 * S, coversHosts: true } } }), { step: 'renew_leaf', reason: /not signed by a CA in ca\.crt/ }],
  ['no usable serving certificate and no CA key: create (the old CAs stay in the bundle)', input({ stored: { ...steady, signer: { ...old, hasKey: false }, leaf: undefined } }), { step: 'create', reason: /no CA in the Secret can sign/ }],
  ['a CA with a third of its life left is staged beside the current one', input({ stored: { ...steady, signer: { ...old, notAfter: NOW + 299 * S, hasKey: true }, bundle: [{ ...old, notAfter: NOW + 299 * S }] } }), { step: 'stage_ca', reason: /third of its lifetime/ }],
  ['a Secret without the CA key (an older release) stages a new CA, never drops trust at once', input({ stored: { ...steady, signer: { ...old, hasKey: false } } }), { step: 'stage_ca', reason: /no CA key/ }],
  ['staged but not yet published: wait', input({ stored: staged, published: ['old'] }), { waiting: /not yet published/ }],
  ['staged and published, but only just: wait for the API server to see it', input({ stored: staged, published: ['old', 'new'], nextPublishedSince: NOW - 9 * S }), { waiting: /not yet published/ }],
  ['staged and published long enough: switch the signer', input({ stored: staged, published: ['old', 'new'], nextPublishedSince: NOW - 10 * S }), { step: 'switch_ca' }],
  ['published in only some hooks (the intersection lacks it): wait', input({ stored: staged, published: ['old'], nextPublishedSince: undefined }), { waiting: /not yet published/ }],
  ['while waiting to switch, a due serving certificate is still renewed from the old CA', input({ stored: { ...staged, leaf: { issuer: 'old', notAfter: NOW + 50 * S, coversHosts: true } }, published: ['old'] }), { step: 'renew_leaf' }],
  ['switched: a replica still serving (or about to serve) the old CA holds the old CA in the bundle', input({ stored: draining, published: ['old', 'new'], reports: [report('a', ['new']), report('b', ['old', 'new'])] }), { waiting: /still serving a certificate of an old CA: b$/ }],
  ['switched: every replica serves the new CA, drop the old one', input({ stored: draining, published: ['old', 'new'], reports: [report('a', ['new']), report('b', ['new'])] }), { step: 'drop_old_ca' }],
  ['a report older than the staleness limit is a replica that is gone', input({ stored: draining, reports: [report('a', ['new']), report('gone', ['old'], 61)] }), { step: 'drop_old_ca' }],
  ['a report just inside the limit still counts', input({ stored: draining, reports: [report('a', ['new']), report('slow', ['old'], 59)] }), { waiting: /slow/ }],
  ['switched but the serving certificate is still the old CA\'s: no drop', input({ stored: { ...draining, leaf: { issuer: 'old', notAfter: NOW + 250 * S, coversHosts: true } }, reports: [] }), {}],
  ['a CA about to end does not issue certificates it would cut short', input({ stored: { ...staged, signer: { ...old, notAfter: NOW + 90 * S, hasKey: true }, leaf: { issuer: 'old', notAfter: NOW + 50 * S, coversHosts: true } }, published: ['old'] }), { waiting: /not yet published/ }],
];

void t.test('decideRotation', async (t) => {
  for (const [name, given, expected] of cases) {
    const decision = decideRotation(given);
    t.equal(decision.step, expected.step, `${name}: ${expected.step ?? 'no step'}`);
    if (expected.reason) t.match(decision.step !== undefined ? decision.reason : '', expected.reason, `${name}: the reason`);
    if (expected.waiting) t.match(decision.step === undefined ? decision.waiting : '', expected.waiting, `${name}: what it waits for`);
    if (!expected.step && !expected.waiting) t.equal(decision.step === undefined ? decision.waiting : 'step', undefined, `${name}: not waiting`);
  }
});

void t.test('rotationTiming: checks scale with the serving certificate\'s lifetime, within a second and ten minutes', async (t) => {
  t.same(rotationTiming(365 * 86_400 * S), { checkIntervalMs: 600 * S, propagationMs: 600 * S, reportStaleMs: 1800 * S });
  t.same(rotationTiming(30 * S), { checkIntervalMs: S, propagationMs: S, reportStaleMs: 60 * S });
  t.same(rotationTiming(10 * S), { checkIntervalMs: S, propagationMs: S, reportStaleMs: 60 * S });
});
