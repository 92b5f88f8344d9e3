import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad usage: one line on stderr and exit 2, never the whole help text. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * `node:util` parseArgs for a command's flags, with its errors turned into
 * one short line (`unknown flag --frobnicate`); the caller adds "see --help".
 */
export function parseFlags<T extends Options>(argv: readonly string[], options: T): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(describeParseArgsError(err as Error & { code?: string }, argv));
  }
}

/** parseArgs messages are long and speak of "options" and "positionals"; ours name the flag. */
export function describeParseArgsError(err: Error & { code?: string }, argv: readonly string[]): string {
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const flag = /'([^']+)'/.exec(err.message)?.[1] ?? '';
      return `unknown flag ${flag}`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const word = /'([^']*)'/.exec(err.message)?.[1] ?? argv.find((a) => !a.startsWith('-')) ?? '';
      return `unexpected argument "${word}"`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // "Option '-f, --filename <value>' argument missing" or "Option '--show-mutation' does not take an argument".
      const flag = /--[a-z-]+/.exec(err.message)?.[0] ?? '';
      return /argument missing/.test(err.message) ? `${flag} needs a value` : `${flag} takes no value`;
    }
    default:
      return err.message;
  }
}
