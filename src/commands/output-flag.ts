import { UsageError } from '../util/parse-flags.js';

/**
 * `-o/--output`, with `--format` accepted as another name for it (earlier
 * versions of `inventory` took `--format`). Undefined when neither is given.
 */
export function outputFormat(flags: { output?: string | undefined; format?: string | undefined }): string | undefined {
  if (flags.output !== undefined && flags.format !== undefined && flags.output !== flags.format) {
    throw new UsageError(`--output ${flags.output} and --format ${flags.format} disagree (--format is another name for --output): give one`);
  }
  return flags.output ?? flags.format;
}

/** The flags both offline commands take for their output. */
export const OUTPUT_FLAGS = {
  output: { type: 'string', short: 'o' },
  format: { type: 'string' },
} as const;
