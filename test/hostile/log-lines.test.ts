// Container runtimes split log lines over 16 KiB, which breaks JSON log
// pipelines. Whatever goes into a log call, the line the logger writes (here
// into an in-memory pino sink) is one JSON object under 16 KiB; an ordinary
// line is written as it is.
import t, { type Test } from 'tap';
import { boundLogLine, MAX_LOG_LINE_BYTES } from '../../src/log.js';
import { createLogSink } from '../helpers/log-sink.js';

function expectBounded(t: Test, sink: ReturnType<typeof createLogSink>): Record<string, unknown>[] {
  const raw = sink.text().split('\n');
  for (const line of raw) t.ok(Buffer.byteLength(line) <= MAX_LOG_LINE_BYTES, `a line of ${Buffer.byteLength(line)} bytes`);
  return sink.lines;
}

void t.test('an ordinary line is written unchanged', async (t) => {
  const line = '{"level":30,"time":"2026-12-04T07:00:00.000Z","service":"wi-admission","uid":"u","msg":"admission"}\n';
  t.equal(boundLogLine(line), line);
});

void t.test('a field of a megabyte: the line keeps its fields, each cut, and says how long it was', async (t) => {
  const sink = createLogSink('info');
  sink.log.info({ uid: 'u'.repeat(1_000_000), namespace: 'shop', nested: { list: Array.from({ length: 1000 }, (_, i) => `item-${i}`) } }, 'admission');
  const [entry] = expectBounded(t, sink);
  t.match(entry, { level: 30, service: 'wi-admission', msg: 'admission', namespace: 'shop' });
  t.match(entry?.uid, /^u{512}…\[\+999488 chars\]$/);
  t.equal((entry?.nested as { list: unknown[] }).list.length, 16, 'lists keep their first 16 items');
  t.ok(((entry?.logLineCut as { bytes: number }).bytes) > 1_000_000, 'logLineCut gives the original size');
});

void t.test('hundreds of fields of escaped control characters: level, time and message remain', async (t) => {
  const sink = createLogSink('info');
  const fields: Record<string, string> = {};
  for (let i = 0; i < 500; i++) fields[`f${i}`] = '\u0001'.repeat(600);
  sink.log.warn(fields, 'many fields');
  const [entry] = expectBounded(t, sink);
  t.same(Object.keys(entry ?? {}).sort(), ['level', 'logLineCut', 'msg', 'service', 'time']);
  t.match(entry, { level: 40, msg: 'many fields' });
});

void t.test('an error with a megabyte message, and a key of 100,000 characters', async (t) => {
  const sink = createLogSink('info');
  const err = new Error('e'.repeat(1_000_000));
  sink.log.error({ err, context: { ['k'.repeat(100_000)]: 'v' } }, 'admission failed');
  const [entry] = expectBounded(t, sink);
  t.match(entry, { level: 50, msg: 'admission failed', err: { type: 'Error' } });
  t.match((entry?.err as { message: string }).message, /^e{512}…\[\+999488 chars\]$/);
  t.same(Object.keys(entry?.context as object), [`${'k'.repeat(512)}…[+99488 chars]`], 'keys are cut too');
});

void t.test('a __proto__ key in a line too long stays a key and touches no prototype', async (t) => {
  const line = `{"level":30,"msg":"m","__proto__":{"polluted":"yes"},"big":"${'b'.repeat(100_000)}"}\n`;
  const bounded = boundLogLine(line);
  t.ok(Buffer.byteLength(bounded) <= MAX_LOG_LINE_BYTES + 1);
  const entry = JSON.parse(bounded) as Record<string, unknown>;
  t.ok(Object.hasOwn(entry, '__proto__'), 'still an own key');
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
});
