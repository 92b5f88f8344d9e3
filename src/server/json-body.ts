/**
 * Limits on the JSON of one request body. JSON.parse's time and memory grow
 * with the number of objects and arrays and with the width of an object
 * (one of 150,000 keys is stored as a hash table), far more than with the
 * body's bytes: 3 MiB of `{}` took 0.4 s and 60 MB to parse. A scan of the
 * text (no values built) checks both before anything is parsed.
 */
export const JSON_LIMITS = {
  /** Objects and arrays per body: a pod etcd can store (1.5 MiB) holds at most about 125,000 (12-byte env entries). */
  maxContainers: 200_000,
  /** Members of one object: real objects have tens, labels and annotations at most hundreds. */
  maxMembers: 10_000,
} as const;

/** A text shorter than this cannot exceed either limit (a member takes at least 4 characters, `"":0`). */
const SCAN_FROM_LENGTH = Math.min(3 * JSON_LIMITS.maxContainers, 4 * JSON_LIMITS.maxMembers);

/** Bodies read without their objects, with the limit they exceeded. */
const overLimit = new WeakMap<object, string>();

/** The limit a parsed body exceeded (its objects were left out), if any. */
export function bodyOverLimit(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null ? overLimit.get(body) : undefined;
}

export type JsonBody =
  | { readonly ok: true; readonly value: unknown; readonly overLimit?: undefined }
  /** Over a limit: `value` is the AdmissionReview with `request.object` and `request.oldObject` as null. */
  | { readonly ok: true; readonly value: unknown; readonly overLimit: string }
  | { readonly ok: false; readonly error: string };

/**
 * Parses an admission body. One over a limit is not parsed whole: its
 * envelope is, with the objects left out, so the review can still be
 * answered (and denied, naming the limit); when even the envelope is over
 * a limit, the body is not read at all. Malformed JSON throws, as
 * JSON.parse does.
 */
export function parseAdmissionJson(text: string): JsonBody {
  if (text.length < SCAN_FROM_LENGTH) return { ok: true, value: JSON.parse(text) };
  const shape = measureJson(text);
  const problem = shape && describeExcess(shape);
  if (!shape || !problem) return { ok: true, value: JSON.parse(text) };
  const envelope = withoutSpans(text, shape.objectSpans);
  const envelopeShape = measureJson(envelope);
  if (!envelopeShape || describeExcess(envelopeShape)) return { ok: false, error: `${problem}, and not only in request.object` };
  const value: unknown = JSON.parse(envelope);
  if (typeof value === 'object' && value !== null) overLimit.set(value, problem);
  return { ok: true, value, overLimit: problem };
}

function describeExcess(shape: JsonShape): string | undefined {
  if (shape.containers > JSON_LIMITS.maxContainers) {
    return `the request holds ${count(shape.containers)} JSON objects and arrays; the webhook reads at most ${count(JSON_LIMITS.maxContainers)} ` +
      '(a pod etcd can store holds at most about 125,000)';
  }
  if (shape.widestObject > JSON_LIMITS.maxMembers) {
    return `an object in the request has ${count(shape.widestObject)} members; the webhook reads at most ${count(JSON_LIMITS.maxMembers)} per object`;
  }
  return undefined;
}

export interface JsonShape {
  /** Objects and arrays. */
  readonly containers: number;
  /** Most members of any one object. */
  readonly widestObject: number;
  /** [start, end) of each object or array that is the value of `request.object` or `request.oldObject`. */
  readonly objectSpans: readonly (readonly [number, number])[];
}

/** Keys are compared as written; one this long is none of the keys looked for. */
const MAX_KEY_COMPARED = 16;

/**
 * One pass over JSON text, allocating nothing per value: the open objects
 * and arrays are a stack of numbers, and keys are kept only on the two
 * levels that lead to `request.object`. Undefined when the text is not
 * well-formed enough to scan (then JSON.parse reports it).
 */
export function measureJson(text: string): JsonShape | undefined {
  return new ShapeScanner(text).scan();
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

class ShapeScanner {
  /** Per open object or array: 1 for an object, 0 for an array. */
  private readonly isObject: number[] = [];
  /** Per open object: its members so far. */
  private readonly members: number[] = [];
  private readonly spans: [number, number][] = [];
  private depth = 0;
  private containers = 0;
  private widestObject = 0;
  /** In an object, whether the next string is a key: one flag, set again on every push, pop and comma. */
  private expectingKey = false;
  /** The current key of the root object, and of the object at depth 1. */
  private rootKey = '';
  private requestKey = '';
  private spanStart = -1;

  constructor(private readonly text: string) {}

  scan(): JsonShape | undefined {
    const { text } = this;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        i = this.string(i);
        if (i < 0) return undefined;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        this.open(i, c === OPEN_BRACE);
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (!this.close(i)) return undefined;
      } else if (c === COMMA) {
        this.expectingKey = this.isObject[this.depth - 1] === 1;
      }
    }
    return this.depth === 0 ? { containers: this.containers, widestObject: this.widestObject, objectSpans: this.spans } : undefined;
  }

  /** The string opening at `start`: counts it as a key where one is expected; returns where it ends, or -1. */
  private string(start: number): number {
    const end = closingQuote(this.text, start);
    if (end < 0 || !this.expectingKey) return end;
    this.members[this.depth - 1] = (this.members[this.depth - 1] ?? 0) + 1;
    this.expectingKey = false;
    if (this.depth <= 2) {
      const key = end - start - 1 <= MAX_KEY_COMPARED ? this.text.slice(start + 1, end) : '';
      if (this.depth === 1) this.rootKey = key;
      else this.requestKey = key;
    }
    return end;
  }

  private open(at: number, isObject: boolean): void {
    this.containers++;
    const isReviewObject = this.depth === 2 && this.rootKey === 'request' && this.isObject[1] === 1 && (this.requestKey === 'object' || this.requestKey === 'oldObject');
    if (isReviewObject) this.spanStart = at;
    this.isObject[this.depth] = isObject ? 1 : 0;
    this.members[this.depth] = 0;
    this.depth++;
    this.expectingKey = isObject;
  }

  private close(at: number): boolean {
    if (this.depth === 0) return false;
    this.depth--;
    const width = this.members[this.depth] ?? 0;
    if (width > this.widestObject) this.widestObject = width;
    if (this.depth === 2 && this.spanStart >= 0) {
      this.spans.push([this.spanStart, at + 1]);
      this.spanStart = -1;
    }
    this.expectingKey = false;
    return true;
  }
}

/** Index of the quote closing the string that opens at `start`, or -1. */
function closingQuote(text: string, start: number): number {
  for (let at = text.indexOf('"', start + 1); at >= 0; at = text.indexOf('"', at + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === 0x5c /* \ */) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

function withoutSpans(text: string, spans: JsonShape['objectSpans']): string {
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    out += `${text.slice(from, start)}null`;
    from = end;
  }
  return out + text.slice(from);
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
