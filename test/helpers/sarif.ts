import { createRequire } from 'node:module';

export type SarifValidator = ((data: unknown) => boolean) & { errors?: unknown[] | null };

/**
 * The SARIF 2.1.0 schema (shipped in @microsoft/jest-sarif; draft-04, hence
 * ajv-draft-04), with formats checked: a helpUri or artifact URI that is not
 * a URI fails.
 */
export function sarifValidator(): SarifValidator {
  const require = createRequire(import.meta.url);
  const schema = require('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json') as Record<string, unknown>;
  const { default: Ajv } = require('ajv-draft-04') as { default: new (options: object) => { compile(schema: object): SarifValidator } };
  const { default: addFormats } = require('ajv-formats') as { default: (ajv: unknown) => void };
  // The schema's patterns predate the `u` flag.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  return ajv.compile(schema);
}
