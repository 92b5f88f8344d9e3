/**
 * Go's `strconv.ParseInt(s, 10, bits)`, because upstream parses annotation
 * values with it and we must accept and reject exactly the same strings:
 * an optional sign, ASCII digits only, no whitespace, no unit, no `_`.
 * `parseInt("3600s")` would say 3600 where upstream denies the pod.
 */
export type GoIntParse = { ok: true; value: number } | { ok: false; error: string };

const DIGITS = /^[0-9]+$/;

export function parseGoInt(text: string, bitSize: 32 | 64): GoIntParse {
  const fail = (why: string): GoIntParse => ({
    ok: false,
    error: `strconv.ParseInt: parsing ${quoteGo(text)}: ${why}`,
  });
  const sign = text.startsWith('-') || text.startsWith('+') ? text.slice(0, 1) : '';
  const digits = text.slice(sign.length);
  if (!DIGITS.test(digits)) return fail('invalid syntax');
  const value = BigInt(sign === '-' ? `-${digits}` : digits);
  const limit = 1n << BigInt(bitSize - 1);
  if (value >= limit || value < -limit) return fail('value out of range');
  return { ok: true, value: Number(value) };
}

/** Close to Go's `strconv.Quote`: double quotes, escapes for quotes, backslashes and control characters. */
export function quoteGo(text: string): string {
  return JSON.stringify(text);
}
