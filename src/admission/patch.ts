import type { Operation } from 'rfc6902';
import { diffAny } from 'rfc6902/diff.js';
import { Pointer } from 'rfc6902/pointer.js';

type Json = unknown;
type JsonObject = Record<string, unknown>;

/**
 * RFC 6902 patch from the original object to the mutated one, computed by
 * diffing (rfc6902) so the patch is exactly the change and nothing else.
 *
 * Two refinements over a plain diff, both so that a patch only ever adds or
 * replaces what the webhook owns:
 * - arrays of named objects (containers, env, volumeMounts, volumes) are
 *   matched by `name`: an inserted container becomes one `add` at its index,
 *   instead of a cascade of field-by-field rewrites of its neighbours;
 * - an element whose own diff would remove fields (a volume or mount replaced
 *   wholesale by name) becomes a single `replace` of that element.
 * The result never contains `remove`, `move` or `copy`.
 */
export function createPatch(original: Json, mutated: Json): Operation[] {
  return diff(original, mutated, '');
}

/** Paths are built as strings (RFC 6901 escaping); rfc6902's Pointer only where its own diff takes over. */
function diff(input: Json, output: Json, path: string): Operation[] {
  if (input === output) return [];
  return (
    diffNamedArrays(input, output, path) ??
    diffPlainObjects(input, output, path) ??
    diffAny(input, output, Pointer.fromJSON(path), (i: Json, o: Json, p: Pointer) => diff(i, o, p.toString()))
  );
}

function child(path: string, token: string): string {
  return `${path}/${token.includes('~') || token.includes('/') ? token.replaceAll('~', '~0').replaceAll('/', '~1') : token}`;
}

/**
 * Objects key by key, skipping values that are the same reference before a
 * pointer is even built: the mutation copies only what it changes, so on an
 * 8 KB pod almost every subtree is skipped at once (rfc6902's own object
 * diff builds a pointer for every key first).
 */
function diffPlainObjects(input: Json, output: Json, path: string): Operation[] | undefined {
  if (!isPlainObject(input) || !isPlainObject(output)) return undefined;
  const ops: Operation[] = [];
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(output, key)) ops.push({ op: 'remove', path: child(path, key) });
  }
  for (const key of Object.keys(output)) {
    const before = input[key];
    const after = output[key];
    if (!Object.hasOwn(input, key)) ops.push({ op: 'add', path: child(path, key), value: after });
    else if (before !== after) ops.push(...diff(before, after, child(path, key)));
  }
  return ops;
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function encodePatch(operations: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(operations), 'utf8').toString('base64');
}

function diffNamedArrays(input: Json, output: Json, path: string): Operation[] | undefined {
  if (!Array.isArray(input) || !Array.isArray(output)) return undefined;
  if (!input.every(isNamed) || !output.every(isNamed)) return undefined;
  const matches = matchSubsequence(input, output);
  if (!matches) return undefined;
  const ops: Operation[] = [];
  // Walk the output in order: every insert before index k is applied by the
  // time an op on index k runs, so output indices are the right paths.
  output.forEach((element, k) => {
    const from = matches[k];
    if (from !== undefined && input[from] === element) return;
    const at = `${path}/${k}`;
    if (from === undefined) {
      ops.push({ op: 'add', path: at, value: element });
      return;
    }
    const inner = diff(input[from], element, at);
    if (inner.some((op) => op.op !== 'add' && op.op !== 'replace')) {
      ops.push({ op: 'replace', path: at, value: element });
    } else {
      ops.push(...inner);
    }
  });
  return ops;
}

/**
 * For each output index, the input index it continues, when the input's
 * names appear in the output in order (elements only ever inserted).
 */
function matchSubsequence(input: JsonObject[], output: JsonObject[]): (number | undefined)[] | undefined {
  const matches: (number | undefined)[] = new Array(output.length).fill(undefined);
  let i = 0;
  for (let k = 0; k < output.length && i < input.length; k++) {
    if (output[k]?.name === input[i]?.name) matches[k] = i++;
  }
  return i === input.length ? matches : undefined;
}

function isNamed(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as JsonObject).name === 'string';
}
