/**
 * Bounds text that came from a request before it is echoed in a message or
 * a log line. What was cut is said in a marker, so a reader knows the value
 * was longer: `abc…[+12345 chars]`.
 */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = cutPoint(text, maxChars);
  return `${text.slice(0, end)}…[+${text.length - end} chars]`;
}

/**
 * Keeps both ends and cuts the middle: for messages whose end matters (a
 * denial ends with its `[Reason]`).
 */
export function truncateMiddle(text: string, maxChars: number, tailChars: number): string {
  if (text.length <= maxChars) return text;
  const head = cutPoint(text, Math.max(0, maxChars - tailChars));
  const tail = cutPoint(text, text.length - tailChars);
  return `${text.slice(0, head)}…[+${tail - head} chars]…${text.slice(tail)}`;
}

/** `at`, or one before it when `at` would split a surrogate pair. */
function cutPoint(text: string, at: number): number {
  const code = text.charCodeAt(at - 1);
  return at > 0 && code >= 0xd800 && code <= 0xdbff ? at - 1 : at;
}
