/**
 * What went wrong reading a file, without Node's repetition: "ENOENT: no such
 * file or directory, open 'x.json'" becomes "no such file or directory" (the
 * caller names the file once).
 */
export function describeFsError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const match = /^[A-Z]+: ([^,]+),/.exec(message);
  return match?.[1] ?? message;
}
