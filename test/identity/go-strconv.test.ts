import t from 'tap';
import { parseGoInt } from '../../src/identity/go-strconv.js';

const cases: [string, 32 | 64, number | string][] = [
  ['3600', 64, 3600],
  ['+3600', 64, 3600],
  ['-1', 64, -1],
  ['007200', 64, 7200],
  ['9223372036854775807', 64, Number(2n ** 63n - 1n)],
  ['9223372036854775808', 64, 'strconv.ParseInt: parsing "9223372036854775808": value out of range'],
  ['2147483647', 32, 2147483647],
  ['2147483648', 32, 'strconv.ParseInt: parsing "2147483648": value out of range'],
  ['-2147483648', 32, -2147483648],
  ['3600s', 64, 'strconv.ParseInt: parsing "3600s": invalid syntax'],
  [' 3600', 64, 'strconv.ParseInt: parsing " 3600": invalid syntax'],
  ['3_600', 64, 'strconv.ParseInt: parsing "3_600": invalid syntax'],
  ['0x10', 64, 'strconv.ParseInt: parsing "0x10": invalid syntax'],
  ['1e4', 64, 'strconv.ParseInt: parsing "1e4": invalid syntax'],
  ['', 64, 'strconv.ParseInt: parsing "": invalid syntax'],
  ['+', 64, 'strconv.ParseInt: parsing "+": invalid syntax'],
  ['٣٦٠٠', 64, 'strconv.ParseInt: parsing "٣٦٠٠": invalid syntax'],
  [`${'0'.repeat(40)}3600`, 64, 3600],
  ['-00000000000000000000009223372036854775808', 64, -Number(2n ** 63n)],
  ['10000000000000000000', 64, 'strconv.ParseInt: parsing "10000000000000000000": value out of range'],
];

for (const [text, bits, want] of cases) {
  const got = parseGoInt(text, bits);
  if (typeof want === 'number') t.same(got, { ok: true, value: want }, `${JSON.stringify(text)} (int${bits}) parses to ${want}`);
  else t.same(got, { ok: false, error: want }, `${JSON.stringify(text)} (int${bits}) is rejected as Go does`);
}

void t.test('a megabyte of digits is out of range at once, and the message echoes at most 256 of them', async (t) => {
  const got = parseGoInt('9'.repeat(1_000_000), 64);
  t.same(got, { ok: false, error: `strconv.ParseInt: parsing "${'9'.repeat(256)}…[+999744 chars]": value out of range` });
});
