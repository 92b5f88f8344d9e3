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
];

for (const [text, bits, want] of cases) {
  const got = parseGoInt(text, bits);
  if (typeof want === 'number') t.same(got, { ok: true, value: want }, `${JSON.stringify(text)} (int${bits}) parses to ${want}`);
  else t.same(got, { ok: false, error: want }, `${JSON.stringify(text)} (int${bits}) is rejected as Go does`);
}
