/**
 * Faults (not decisions) carry a stable code from this registry; every code
 * is documented in docs/errors.md, and a test keeps the two in step.
 */
export const ERROR_CODES = {
  WIA_ERR_CONFIG_INVALID: 'the configuration (flags, env, --config file) is invalid',
  WIA_ERR_TLS_KEYPAIR_INVALID: 'the certificate or key in --webhook-cert-dir cannot be used',
  WIA_ERR_TLS_KEYPAIR_MISSING: 'tls.crt or tls.key is missing from --webhook-cert-dir',
  WIA_ERR_TLS_DIR_UNUSABLE: '--webhook-cert-dir is not a directory the server can read (or, with --cert-mode self, write)',
  WIA_ERR_LISTEN_FAILED: 'a listener cannot be opened on its address (in use, or not allowed)',
  WIA_ERR_KUBE_UNREACHABLE: 'the API server did not answer at all within a few seconds of the start',
  WIA_ERR_KUBE_CREDENTIALS: 'the kubeconfig user\'s credentials cannot be obtained (token file unreadable, credential plugin failed)',
  WIA_ERR_REVIEW_INVALID: 'the request body is not an AdmissionReview',
  WIA_ERR_NOT_FOUND: 'no route for the request path',
  WIA_ERR_POLICY_INVALID: 'the --policy file does not parse or validate',
  WIA_ERR_OBJECTS_INVALID: 'the --objects file cannot be read as ServiceAccounts and Namespaces',
  WIA_ERR_KUBE_VERSION_INVALID: 'the API server version is not a semantic version',
  WIA_ERR_KUBECONFIG_INVALID: 'no API server is configured, or the kubeconfig cannot be used',
  WIA_ERR_IDENTITY_SOURCE_INVALID: 'an --identities value is not file:PATH or arm:/subscriptions/<id>[/resourceGroups/<rg>]',
  WIA_ERR_IDENTITIES_FILE_INVALID: 'the identities file cannot be read or an identity in it is invalid',
  WIA_ERR_INVENTORY_OPTIONS_INVALID: 'the identity inventory was given unusable options (intervals, sources)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AppError';
    this.code = code;
  }
}

export function isAppError(value: unknown, code?: ErrorCode): value is AppError {
  return value instanceof AppError && (code === undefined || value.code === code);
}
