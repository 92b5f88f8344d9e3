import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';

/** Where JSON text first goes wrong, 1-based, and what is wrong there. */
export interface JsonSyntaxProblem {
  readonly line: number;
  readonly column: number;
  readonly problem: string;
}

/** Words for jsonc-parser's codes: V8's own messages give no position for most errors. */
const PROBLEMS: Readonly<Record<string, string>> = {
  InvalidSymbol: 'unexpected text',
  InvalidNumberFormat: 'not a number',
  PropertyNameExpected: 'a property name in double quotes expected',
  ValueExpected: 'a value expected',
  ColonExpected: "':' expected",
  CommaExpected: "',' expected",
  CloseBraceExpected: "'}' expected",
  CloseBracketExpected: "']' expected",
  EndOfFileExpected: 'text after the end of the JSON value',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'a string is not closed',
  InvalidEscapeCharacter: 'an invalid escape in a string',
  InvalidCharacter: 'a control character in a string',
};

/**
 * The first syntax error of `text` as strict JSON (no comments, no trailing
 * commas), or undefined when it is valid. Only called after JSON.parse
 * failed, so valid input pays nothing for it.
 */
export function locateJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  const errors: ParseError[] = [];
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return undefined;
  const before = text.slice(0, first.offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  return {
    line: before.split('\n').length,
    column: first.offset - lineStart + 1,
    problem: text.trim() === '' ? 'the file is empty' : (PROBLEMS[printParseErrorCode(first.error)] ?? 'invalid JSON'),
  };
}
