import { YAMLParseError } from 'yaml';

/**
 * `file:line:col: not YAML: <what>` in one line: the yaml library's message
 * repeats the position and adds a drawing of the line, which a one-line error
 * has no room for.
 */
export function describeYamlError(err: unknown, file: string): string {
  const pos = err instanceof YAMLParseError ? err.linePos?.[0] : undefined;
  const message = ((err as Error).message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not YAML: ${message}`;
}
