import { truncate } from '../util/truncate.js';
import { MAX_ECHOED_VALUE_CHARS } from './constants.js';

/**
 * Go's `strconv.ParseInt(s, 10, bits)`, because upstream parses annotation
 * values with it and we must accept and reject exactly the same strings:
 * an optional sign, ASCII digits only, no whitespace, no unit, no `_`.
 * `parseInt("3600s")` would say 3600 where upstream denies the pod.
 */
export type GoIntParse = { ok: true; value: number } | { ok: false; error: string };

const DIGITS = /^[0-9]+$/;
/** Digits of the largest magnitude a 64-bit integer holds (2^63 = 9223372036854775808). */
const MAX_INT64_DIGITS = 19;

export function parseGoInt(text: string, bitSize: 32 | 64): GoIntParse {
  const fail = (why: string): GoIntParse => ({
    ok: false,
    error: `strconv.ParseInt: parsing ${quoteGo(truncate(text, MAX_ECHOED_VALUE_CHARS))}: ${why}`,
  });
  const sign = text.startsWith('-') || text.startsWith('+') ? text.slice(0, 1) : '';
  const digits = text.slice(sign.length);
  if (!DIGITS.test(digits)) return fail('invalid syntax');
  // Leading zeros are allowed, as in Go. A longer number is out of range
  // whatever its digits, and BigInt would take a second over a megabyte of them.
  const significant = digits.replace(/^0+(?=.)/, '');
  if (significant.length > MAX_INT64_DIGITS) return fail('value out of range');
  const value = BigInt(sign === '-' ? `-${significant}` : significant);
  const limit = 1n << BigInt(bitSize - 1);
  if (value >= limit || value < -limit) return fail('value out of range');
  return { ok: true, value: Number(value) };
}

/** Close to Go's `strconv.Quote`: double quotes, escapes for quotes, backslashes and control characters. */
export function quoteGo(text: string): string {
  return JSON.stringify(text);
}
