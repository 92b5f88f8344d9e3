import type { Operation } from 'rfc6902';
import { diffAny } from 'rfc6902/diff.js';
import { Pointer } from 'rfc6902/pointer.js';
import { MAX_PATCH_BYTES } from '../identity/constants.js';

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
 * The result never contains `remove`, `move` or `copy`. The walk is linear:
 * rfc6902's own array diff (a quadratic edit-distance table, recursive per
 * element) only ever sees short arrays; a long one is replaced whole.
 */
export function createPatch(original: Json, mutated: Json): Operation[] {
  const ops: Operation[] = [];
  diff(original, mutated, '', ops);
  return ops;
}

/**
 * Appends the operations from `input` to `output` to `ops` (one array for
 * the whole walk, not one per level). Paths are built as strings (RFC 6901
 * escaping); rfc6902's Pointer only where its own diff takes over.
 */
function diff(input: Json, output: Json, path: string, ops: Operation[]): void {
  if (input === output) return;
  if (diffNamedArrays(input, output, path, ops)) return;
  if (isPlainObject(input) && isPlainObject(output)) {
    diffPlainObjects(input, output, path, ops);
    return;
  }
  if (Array.isArray(input) && Array.isArray(output) && input.length <= MAX_EDIT_DISTANCE_ARRAY && output.length <= MAX_EDIT_DISTANCE_ARRAY) {
    for (const op of diffAny(input, output, Pointer.fromJSON(path), (i: Json, o: Json, p: Pointer) => createPatchAt(i, o, p.toString()))) ops.push(op);
    return;
  }
  // Different types (what rfc6902 would answer too), or a long array.
  ops.push({ op: 'replace', path, value: output });
}

/** Longest arrays given to rfc6902's edit-distance diff: its table is length × length. */
const MAX_EDIT_DISTANCE_ARRAY = 64;

function createPatchAt(input: Json, output: Json, path: string): Operation[] {
  const ops: Operation[] = [];
  diff(input, output, path, ops);
  return ops;
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
function diffPlainObjects(input: JsonObject, output: JsonObject, path: string, ops: Operation[]): void {
  const start = ops.length;
  let kept = 0;
  for (const key of Object.keys(output)) {
    const before = input[key];
    const after = output[key];
    // The same JSON value is an own key of both: an inherited value (a
    // function, Object.prototype) is never a JSON value.
    if (before === after && after !== undefined) {
      kept++;
    } else if (!Object.hasOwn(input, key)) {
      ops.push({ op: 'add', path: child(path, key), value: after });
    } else {
      kept++;
      diff(before, after, child(path, key), ops);
    }
  }
  // Every key of the input was met above unless some were removed. Counted
  // without allocating a key array: `for...in` also meets inherited
  // enumerable keys, which at worst sends us to the exact check below.
  let inputKeyCount = 0;
  for (const _ in input) inputKeyCount++;
  if (kept === inputKeyCount) return;
  // The removals go first, in the input's key order (no spread: an object
  // may have more keys than a call has room for arguments).
  const changes = ops.splice(start);
  for (const key of Object.keys(input)) if (!Object.hasOwn(output, key)) ops.push({ op: 'remove', path: child(path, key) });
  for (const op of changes) ops.push(op);
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** UTF-8 of the patch, reused by every admission whose patch fits (nearly all). */
const scratch = Buffer.allocUnsafe(64 * 1024);

export type EncodedPatch = { readonly ok: true; readonly patch: string } | { readonly ok: false };

/** Up to this many operations (every ordinary pod's patch) are serialised in one call. */
const SERIALISED_WHOLE_UP_TO = 64;

/**
 * Base64 of the patch's JSON, or not ok when that JSON would be larger
 * than `maxBytes`. A long patch is serialised one operation at a time and
 * counting stops at the limit, so a patch far over it is never built whole;
 * a short one in one call (its values are the webhook's own: the env, the
 * mount, the volume, the proxy containers), which is faster. The JSON goes
 * through `scratch`, not a new Buffer each time: the allocation cost twice
 * the base64 encoding itself.
 */
export function encodePatch(operations: readonly Operation[], maxBytes = MAX_PATCH_BYTES): EncodedPatch {
  const json = operations.length <= SERIALISED_WHOLE_UP_TO ? JSON.stringify(operations) : serialiseUpTo(operations, maxBytes);
  // UTF-16 code units: never more than the UTF-8 bytes, so over in units is over in bytes.
  if (json === undefined || json.length > maxBytes) return { ok: false };
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (json.length * 3 <= scratch.length) {
    const length = scratch.write(json, 'utf8');
    return length > maxBytes ? { ok: false } : { ok: true, patch: scratch.toString('base64', 0, length) };
  }
  const bytes = Buffer.from(json, 'utf8');
  return bytes.length > maxBytes ? { ok: false } : { ok: true, patch: bytes.toString('base64') };
}

/** The JSON of the operations, or undefined as soon as it is longer than `maxUnits` UTF-16 units. */
function serialiseUpTo(operations: readonly Operation[], maxUnits: number): string | undefined {
  const parts: string[] = [];
  let units = 1;
  for (const op of operations) {
    const json = JSON.stringify(op);
    units += json.length + 1;
    if (units > maxUnits) return undefined;
    parts.push(json);
  }
  return `[${parts.join(',')}]`;
}

/**
 * Arrays whose elements all have a `name`, when the input's names appear in
 * the output in order (elements only ever inserted). Walks the output in
 * order: every insert before index k is applied by the time an op on index
 * k runs, so output indices are the right paths. For any other pair of
 * values it appends nothing and returns false.
 */
function diffNamedArrays(input: Json, output: Json, path: string, ops: Operation[]): boolean {
  if (!Array.isArray(input) || !Array.isArray(output)) return false;
  const start = ops.length;
  let i = 0;
  let k = 0;
  for (; k < output.length; k++) {
    const element: unknown = output[k];
    const candidate: unknown = i < input.length ? input[i] : undefined;
    if (!isNamed(element) || (i < input.length && !isNamed(candidate))) break;
    if (!isNamed(candidate) || candidate.name !== element.name) {
      ops.push({ op: 'add', path: `${path}/${k}`, value: element });
      continue;
    }
    i++;
    if (candidate === element) continue;
    const at = `${path}/${k}`;
    const elementStart = ops.length;
    diff(candidate, element, at, ops);
    if (!onlyAddsAndReplaces(ops, elementStart)) {
      ops.length = elementStart;
      ops.push({ op: 'replace', path: at, value: element });
    }
  }
  // Stopped early at an unnamed element, or an input element is missing
  // from the output (not an insert-only change): nothing appended.
  if (k === output.length && i === input.length) return true;
  ops.length = start;
  return false;
}

function onlyAddsAndReplaces(ops: readonly Operation[], from: number): boolean {
  for (let n = from; n < ops.length; n++) if (ops[n]?.op !== 'add' && ops[n]?.op !== 'replace') return false;
  return true;
}

function isNamed(value: unknown): value is JsonObject & { name: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as JsonObject).name === 'string';
}
