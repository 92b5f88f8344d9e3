// The worst inputs of each kind, at sizes that stalled the server, blew its
// memory or got an HTTP 500 before the limits: each must get a bounded,
// well-formed answer (a 200 AdmissionReview echoing the uid, denying with a
// message that names the limit where one applies), an ordinary admission
// sent at the same moment must be answered, and no log line may reach
// 16 KiB. Structural bounds only: nothing here measures time
// (bench/hostile.ts does, with the server's event-loop delay and RSS).
import { applyPatch, type Operation } from 'rfc6902';
import t, { type Test } from 'tap';
import { buildVolumeName } from '../../src/identity/token-volume.js';
import { MAX_LOG_LINE_BYTES } from '../../src/log.js';
import { post, type HttpResult } from '../helpers/https-client.js';
import { listenHostileApp, optedInPodText, OVERSIZED_CLIENT_ID, repeated, reviewText } from '../helpers/hostile-app.js';

const MiB = 1024 * 1024;

interface Answer {
  readonly uid: string;
  readonly allowed: boolean;
  readonly status?: { code: number; message: string };
  readonly patch?: string;
  readonly warnings?: string[];
}

void t.test('hostile requests against the server over TLS', async (t) => {
  const server = await listenHostileApp(t);
  const ordinary = reviewText(optedInPodText('"containers":[{"name":"app","image":"app:1"}]'), { uid: 'ordinary' });

  /** The attack and an ordinary admission at once; both must be answered. */
  async function attack(t: Test, path: string, body: string): Promise<{ result: HttpResult; answer: Answer }> {
    const [result, bystander] = await Promise.all([post(server.port, path, body, { ca: server.ca }), post(server.port, '/mutate-v1-pod', ordinary, { ca: server.ca })]);
    const other = (bystander.json as { response?: Answer } | undefined)?.response;
    if (bystander.status !== 200 || other?.uid !== 'ordinary' || other.patch === undefined) throw new Error(`the ordinary admission was not answered: ${bystander.status} ${bystander.body.slice(0, 200)}`);
    t.equal(result.status, 200, 'HTTP 200');
    const answer = (result.json as { response: Answer }).response;
    return { result, answer };
  }

  function expectLimit(t: Test, answer: Answer, ...parts: string[]): void {
    t.equal(answer.allowed, false, 'denied');
    t.equal(answer.status?.code, 400);
    t.match(answer.status?.message, /^wi-admission: Pod shop\/attack: .* \[LimitExceeded\]$/s);
    for (const part of parts) t.ok(answer.status?.message.includes(part), `the message names the limit: ${part}`);
    t.notOk(answer.patch, 'no patch: never admitted unmutated, never mutated in part');
  }

  await t.test('skip-containers naming 100,000 names next to 25,000 containers (was 6 s of blocked event loop)', async (t) => {
    const names = [...Array.from({ length: 25_000 }, (_, i) => `s${i}`), ...Array.from({ length: 75_000 }, (_, i) => `u${i}`)].join(';');
    const body = reviewText(optedInPodText(`"containers":${repeated(25_000, (i) => `{"name":"s${i}"}`)}`, { 'azure.workload.identity/skip-containers': names }));
    t.ok(body.length > MiB, `${body.length} bytes`);
    const { result, answer } = await attack(t, '/mutate-v1-pod', body);
    expectLimit(t, answer, '25,000 containers', 'at most 250 per pod');
    t.ok(result.body.length < 4096, `a small answer (${result.body.length} bytes)`);
  });

  await t.test('250 containers (the limit) and 250 skip names, most unknown: mutated, one bounded warning', async (t) => {
    const names = Array.from({ length: 250 }, (_, i) => (i < 5 ? `c${i}` : `unknown-${i}`)).join(';');
    const body = reviewText(optedInPodText(`"containers":${repeated(250, (i) => `{"name":"c${i}"}`)}`, { 'azure.workload.identity/skip-containers': names }));
    const { answer } = await attack(t, '/mutate-v1-pod', body);
    t.equal(answer.allowed, true);
    const ops = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as Operation[];
    t.equal(ops.filter((op) => op.path.endsWith('/env')).length, 245, 'env added to the 245 containers not skipped');
    t.equal(answer.warnings?.length, 1);
    t.match(answer.warnings?.[0], /names "unknown-5", .*"unknown-14" and 235 more, which is not a container/);
  });

  await t.test('a skip-containers names more than 250 containers', async (t) => {
    const names = Array.from({ length: 100_000 }, (_, i) => `n${i}`).join(';');
    const { answer } = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText('"containers":[{"name":"app"}]', { 'azure.workload.identity/skip-containers': names })));
    expectLimit(t, answer, 'names more than 250 containers');
  });

  await t.test('containers {"name":""}: 40,000 (was 31 MB of answer), and 3 MiB of them (was 204 MB and 1.8 GiB of memory)', async (t) => {
    const some = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"containers":${repeated(40_000, () => '{"name":""}')}`)));
    expectLimit(t, some.answer, '40,000 containers');
    t.ok(some.result.body.length < 4096, `a small answer (${some.result.body.length} bytes)`);
    const count = Math.floor((3 * MiB - 1024) / 12);
    const body = reviewText(optedInPodText(`"containers":${repeated(count, () => '{"name":""}')}`));
    t.ok(body.length > 2.9 * MiB && body.length < 3 * MiB, `${body.length} bytes`);
    const all = await attack(t, '/mutate-v1-pod', body);
    t.equal(all.answer.allowed, false);
    t.match(all.answer.status?.message, /^wi-admission: Pod shop\/<unnamed>: the request holds 262,\d{3} JSON objects and arrays; the webhook reads at most 200,000 .*\[LimitExceeded\]$/, 'too many objects to parse');
    t.ok(all.result.body.length < 4096, `a small answer (${all.result.body.length} bytes)`);
  });

  await t.test('each list limit, one past it', async (t) => {
    const env = repeated(1001, (i) => `{"name":"E${i}","value":"v"}`);
    expectLimit(t, (await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"containers":[{"name":"app","env":${env}}]`)))).answer,
      'container spec.containers[0] ("app") has 1,001 env entries', 'at most 1,000 per container');
    const mounts = repeated(501, (i) => `{"name":"m${i}","mountPath":"/m${i}"}`);
    expectLimit(t, (await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"initContainers":[{"name":"init","volumeMounts":${mounts}}]`)))).answer,
      'spec.initContainers[0] ("init") has 501 volumeMounts');
    const volumes = repeated(501, (i) => `{"name":"v${i}","emptyDir":{}}`);
    expectLimit(t, (await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"containers":[{"name":"app"}],"volumes":${volumes}`)))).answer, '501 volumes');
    const ephemeral = repeated(200, (i) => `{"name":"e${i}"}`);
    expectLimit(t, (await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"containers":${repeated(51, (i) => `{"name":"c${i}"}`)},"ephemeralContainers":${ephemeral}`)))).answer,
      '251 containers, initContainers and ephemeralContainers together');
  });

  await t.test('a patch over 1 MiB (a 300 KiB client ID in every container) is refused before it is built', async (t) => {
    const { result, answer } = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText(`"containers":${repeated(10, (i) => `{"name":"c${i}"}`)}`, {}, 'oversized')));
    expectLimit(t, answer, 'exceed 1,048,576 bytes of JSON Patch');
    t.ok(result.body.length < 4096, 'a small answer');
    t.notOk(result.body.includes(OVERSIZED_CLIENT_ID.slice(0, 1000)), 'the oversized value is not echoed');
  });

  await t.test('a pod outside the limits but not opted in is left alone', async (t) => {
    const pod = `{"metadata":{"name":"big"},"spec":{"containers":${repeated(20_000, (i) => `{"name":"c${i}"}`)}}}`;
    const { answer } = await attack(t, '/mutate-v1-pod', reviewText(pod));
    t.same(answer, { uid: 'hostile-uid', allowed: true });
  });

  await t.test('decodable reviews that got an HTTP 500: each gets its AdmissionReview', async (t) => {
    for (const kind of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      for (const path of ['/validate', '/mutate-v1-pod']) {
        const { answer } = await attack(t, path, reviewText('{"metadata":{"name":"x"},"spec":{"template":{}}}', { kind, uid: `kind-${kind}` }));
        t.same(answer, { uid: `kind-${kind}`, allowed: true }, `${path} kind ${kind}: not a kind the webhook checks`);
      }
    }
    const hostileName = reviewText(optedInPodText('"containers":[{"name":{"toString":1,"valueOf":1},"env":[{"name":"AZURE_CLIENT_SECRET","value":"s"}]}]'));
    const validated = await attack(t, '/validate', hostileName);
    t.equal(validated.answer.allowed, true, 'a container name that is an object with non-callable toString: answered');
    t.match(validated.answer.warnings?.join('\n'), /sets AZURE_CLIENT_SECRET in container \?/, 'and named "?"');
    const mutated = await attack(t, '/mutate-v1-pod', hostileName);
    t.equal(mutated.answer.status?.code, 400);
    t.match(mutated.answer.status?.message, /\(spec\.containers\.0\.name: Invalid input: expected string, received object\)\. Fix the field named\. \[InvalidPod\]$/);

    const numericEnv = reviewText(optedInPodText(`"containers":[{"name":"app","env":${repeated(150_000, (i) => `{"name":${i}}`)}}]`));
    const mutatedEnv = await attack(t, '/mutate-v1-pod', numericEnv);
    t.match(mutatedEnv.answer.status?.message, /spec\.containers\.0\.env\.0\.name: Invalid input: expected string, received number/, '150,000 env entries with numeric names: one issue, no stack overflow');
    t.equal((await attack(t, '/validate', numericEnv)).answer.allowed, true);
  });

  await t.test('an old token volume with 100,000 sources and 9,000 keys is replaced in one operation (rfc6902 recursed per element)', async (t) => {
    const reserved = buildVolumeName('attack');
    const keys = Array.from({ length: 9_000 }, (_, i) => `"k${i}":1`).join(',');
    const volume = `{"name":"${reserved}","projected":{"sources":${repeated(100_000, () => '{}')}},${keys}}`;
    const pod = optedInPodText(`"containers":[{"name":"app"}],"volumes":[${volume}]`);
    const { answer } = await attack(t, '/mutate-v1-pod', reviewText(pod));
    t.equal(answer.allowed, true);
    const ops = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as Operation[];
    const target = JSON.parse(pod) as { spec: { volumes: { name: string }[] } };
    t.same(applyPatch(target, ops).filter((e) => e !== null), [], 'the patch applies');
    t.equal(target.spec.volumes.length, 1);
    t.ok(ops.length < 10, `${ops.length} operations`);
  });

  await t.test('echoed values are cut: a 2.9 MiB uid, a 2 MB namespace, a megabyte of digits', async (t) => {
    const uid = 'u'.repeat(Math.round(2.9 * MiB));
    const withUid = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText('"containers":[{"name":"app"}]'), { uid }));
    t.equal(withUid.answer.uid, uid, 'the uid is echoed whole: the API server matches on it');
    t.ok(withUid.result.body.length < uid.length + 16 * 1024, 'the rest of the answer stays small');

    const namespace = 'n'.repeat(2_000_000);
    const withNamespace = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText('"containers":[{"name":"app"}]'), { namespace }));
    t.equal(withNamespace.answer.status?.code, 400);
    t.match(withNamespace.answer.status?.message, /^wi-admission: Pod n{256}…\[\+1999744 chars\]\/attack: serviceaccounts "sa" not found in namespace "n{256}…\[\+1999744 chars\]"/);
    t.ok(withNamespace.result.body.length < 4096, `a small answer (${withNamespace.result.body.length} bytes, was 4 MB)`);

    const digits = '9'.repeat(1_000_000);
    const withDigits = await attack(t, '/mutate-v1-pod', reviewText(optedInPodText('"containers":[{"name":"app"}]', { 'azure.workload.identity/service-account-token-expiration': digits })));
    t.match(withDigits.answer.status?.message, /value out of range\)\. Set it to a whole number of seconds/);
    t.ok(withDigits.result.body.length < 4096, 'a small answer');
  });

  await t.test('JSON too costly to parse: a million tolerations, an annotations map of 150,000 keys', async (t) => {
    const tolerations = reviewText(optedInPodText(`"containers":[{"name":"app"}],"tolerations":${repeated(1_000_000, () => '{}')}`), { uid: 'tolerations' });
    const many = await attack(t, '/mutate-v1-pod', tolerations);
    t.equal(many.answer.uid, 'tolerations', 'answered, echoing the uid, without parsing the pod');
    t.equal(many.answer.status?.code, 400);
    t.match(many.answer.status?.message, /^wi-admission: Pod shop\/<unnamed>: the request holds 1,000,011 JSON objects and arrays; the webhook reads at most 200,000 .*\[LimitExceeded\]$/);
    const keys = Object.fromEntries(Array.from({ length: 150_000 }, (_, i) => [`k${i}`, '']));
    const wide = await attack(t, '/validate', reviewText(optedInPodText('"containers":[{"name":"app"}]', keys), { kind: 'Pod' }));
    t.match(wide.answer.status?.message, /an object in the request has 150,00\d members; the webhook reads at most 10,000 per object\. \[LimitExceeded\]$/);
    const outside = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","userInfo":{"extra":${repeated(300_000, () => '[]')}},"object":{}}}`;
    const [refused] = await Promise.all([post(server.port, '/mutate-v1-pod', outside, { ca: server.ca })]);
    t.equal(refused.status, 400, 'over a limit outside request.object: not read, HTTP 400');
    t.match(refused.json, { code: 'WIA_ERR_REVIEW_INVALID', message: /^the request holds 300,00\d JSON objects and arrays; .*, and not only in request\.object$/ });
  });

  await t.test('six 3 MiB pods at once, within every limit: each mutated, and an ordinary admission answered meanwhile', async (t) => {
    const env = repeated(440, (i) => `{"name":"SETTING_${i}","value":"v"}`);
    const body = reviewText(optedInPodText(`"containers":${repeated(200, (i) => `{"name":"c${i}","image":"app:1","env":${env}}`)}`));
    t.ok(body.length > 2.5 * MiB && body.length < 3 * MiB, `${body.length} bytes`);
    const answers = await Promise.all(Array.from({ length: 6 }, () => attack(t, '/mutate-v1-pod', body)));
    for (const { answer } of answers) {
      const ops = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as Operation[];
      t.equal(ops.filter((op) => op.path.endsWith('/volumeMounts')).length, 200, 'mutated: a mount for each container');
    }
  });

  await t.test('no log line reached 16 KiB, and each cut value says how much was cut', async (t) => {
    const lines = server.sink.text().split('\n');
    const longest = Math.max(...lines.map((l) => Buffer.byteLength(l)));
    t.ok(longest <= MAX_LOG_LINE_BYTES, `longest line ${longest} bytes`);
    const entries = server.sink.lines;
    t.ok(entries.some((e) => typeof e.uid === 'string' && /^u{256}…\[\+\d+ chars\]$/.test(e.uid)), 'the huge uid, cut with a marker');
    t.ok(entries.some((e) => typeof e.namespace === 'string' && /^n{256}…\[\+1999744 chars\]$/.test(e.namespace)), 'the huge namespace, cut with a marker');
    t.notOk(entries.some((e) => e.level === 50), 'no internal error was logged');
  });
});
