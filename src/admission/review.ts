import { z } from 'zod';
import { MAX_MESSAGE_CHARS } from '../identity/constants.js';
import { truncateMiddle } from '../util/truncate.js';

/**
 * The AdmissionReview envelope, `admission.k8s.io/v1` and `v1beta1`. Only the
 * envelope is checked; `request.object` stays raw JSON so no field is lost.
 */
export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionApiVersion = (typeof ADMISSION_API_VERSIONS)[number];

const GroupVersionKind = z.looseObject({
  group: z.string().optional(),
  version: z.string().optional(),
  kind: z.string().optional(),
});

const AdmissionRequestSchema = z.looseObject({
  uid: z.string().min(1, 'request.uid must be a non-empty string'),
  kind: GroupVersionKind.optional(),
  resource: z.looseObject({ group: z.string().optional(), version: z.string().optional(), resource: z.string().optional() }).optional(),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.string().optional(),
  object: z.unknown().optional(),
  oldObject: z.unknown().optional(),
  dryRun: z.boolean().optional(),
});

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.enum(ADMISSION_API_VERSIONS, {
    error: `apiVersion must be one of ${ADMISSION_API_VERSIONS.join(', ')}`,
  }),
  kind: z.literal('AdmissionReview', { error: 'kind must be AdmissionReview' }),
  request: AdmissionRequestSchema,
});

export type AdmissionRequest = z.infer<typeof AdmissionRequestSchema>;

export interface DecodedReview {
  readonly apiVersion: AdmissionApiVersion;
  readonly request: AdmissionRequest;
}

export type ReviewDecode = { ok: true; review: DecodedReview } | { ok: false; error: string };

/**
 * Decodes an already-parsed JSON body; the error names the first bad field.
 * The request is the body's own object, not a copy. As with pods
 * (`checkPod`), a copy-free check answers first and zod decides, and words
 * the error, only when that check cannot vouch for the body.
 */
export function decodeReview(body: unknown): ReviewDecode {
  if (isReviewShape(body)) return { ok: true, review: { apiVersion: body.apiVersion, request: body.request } };
  const parsed = AdmissionReviewSchema.safeParse(body);
  if (parsed.success) return { ok: true, review: { apiVersion: parsed.data.apiVersion, request: (body as { request: AdmissionRequest }).request } };
  const issue = parsed.error.issues[0];
  const path = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  const detail = issue?.code === 'invalid_type' && issue.path.length > 0 ? `${issue.message}` : (issue?.message ?? 'invalid');
  return { ok: false, error: `not an AdmissionReview: ${path}${detail}` };
}

/** `AdmissionReviewSchema` as a predicate, never more lenient (a property test holds the two together). */
export function isReviewShape(value: unknown): value is { apiVersion: AdmissionApiVersion; request: AdmissionRequest } {
  if (!isObject(value) || value.kind !== 'AdmissionReview') return false;
  if (value.apiVersion !== ADMISSION_API_VERSIONS[0] && value.apiVersion !== ADMISSION_API_VERSIONS[1]) return false;
  const { request } = value;
  if (!isObject(request) || typeof request.uid !== 'string' || request.uid === '') return false;
  return (
    isOptional(request.kind, isGroupVersionKind) &&
    isOptional(request.resource, isGroupVersionResource) &&
    isOptional(request.subResource, isString) &&
    isOptional(request.name, isString) &&
    isOptional(request.namespace, isString) &&
    isOptional(request.operation, isString) &&
    isOptional(request.dryRun, (v) => typeof v === 'boolean')
  );
}

function isGroupVersionKind(value: unknown): boolean {
  return isObject(value) && isOptional(value.group, isString) && isOptional(value.version, isString) && isOptional(value.kind, isString);
}

function isGroupVersionResource(value: unknown): boolean {
  return isObject(value) && isOptional(value.group, isString) && isOptional(value.version, isString) && isOptional(value.resource, isString);
}

/** zod's `.optional()`: absent or undefined, but not null. */
function isOptional(value: unknown, is: (value: unknown) => boolean): boolean {
  return value === undefined || is(value);
}

function isString(value: unknown): boolean {
  return typeof value === 'string';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** HTTP-style status carried in a denial, as metav1.Status. */
export interface ResponseStatus {
  readonly code: number;
  readonly message: string;
  readonly reason?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: ResponseStatus & { status?: 'Failure' };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: AdmissionApiVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export interface Decision {
  readonly allowed: boolean;
  /** Denials: HTTP-style code (400 bad pod, 403 policy, 500 webhook fault) and the message kubectl prints. */
  readonly status?: ResponseStatus;
  /** Base64 of a JSON Patch; absent when nothing changes. */
  readonly patch?: string;
  readonly warnings?: readonly string[];
  /** Recorded by the API server in the audit log under `<webhook name>/<key>`. */
  readonly auditAnnotations?: Readonly<Record<string, string>>;
}

/** What a message keeps of its end when it is cut: the fix and the `[Reason]`. */
const MESSAGE_TAIL_CHARS = 512;

/**
 * Answers in the request's own API version, echoing its uid. Messages,
 * warnings and audit annotations quote the request, so each is cut to
 * MAX_MESSAGE_CHARS in the middle, keeping its end.
 */
export function buildReviewResponse(review: DecodedReview, decision: Decision): AdmissionReviewResponse {
  const response: AdmissionResponse = { uid: review.request.uid, allowed: decision.allowed };
  if (decision.status) response.status = { ...decision.status, message: boundMessage(decision.status.message), status: 'Failure' };
  if (decision.patch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = decision.patch;
  }
  if (decision.warnings && decision.warnings.length > 0) response.warnings = decision.warnings.map(boundMessage);
  if (decision.auditAnnotations && Object.keys(decision.auditAnnotations).length > 0) {
    response.auditAnnotations = {};
    for (const [key, value] of Object.entries(decision.auditAnnotations)) response.auditAnnotations[key] = boundMessage(value);
  }
  return { apiVersion: review.apiVersion, kind: 'AdmissionReview', response };
}

function boundMessage(message: string): string {
  return truncateMiddle(message, MAX_MESSAGE_CHARS, MESSAGE_TAIL_CHARS);
}

/**
 * `JSON.stringify(review)` byte for byte, but the patch is put in as it is:
 * base64 has no character JSON escapes, and it is most of the answer, which
 * `JSON.stringify` would read again character by character.
 */
export function serializeReviewResponse(review: AdmissionReviewResponse): string {
  const { patch, warnings, auditAnnotations, ...head } = review.response;
  if (patch === undefined) return JSON.stringify(review);
  // `buildReviewResponse` orders the keys head, patch, tail; JSON.stringify
  // leaves out the tail keys that are undefined.
  const start = JSON.stringify({ ...review, response: head }).slice(0, -2);
  const tail = JSON.stringify({ warnings, auditAnnotations }).slice(1, -1);
  return `${start},"patch":"${patch}"${tail === '' ? '' : `,${tail}`}}}`;
}
