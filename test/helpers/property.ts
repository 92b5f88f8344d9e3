import fc from 'fast-check';
import type { Test } from 'tap';

/**
 * Runs a fast-check property as `fc.assert` does, as one assertion of `t`,
 * and reports the cases it ran as the TAP comment `# fast-check: N cases`,
 * which `npm test` adds up next to its total (docs/development.md). On
 * failure the assertion carries fast-check's report: the counterexample and
 * the seed and path that replay it.
 *
 * ```ts
 * await checkProperty(t, 'every answer echoes the uid', fc.asyncProperty(review, check), { numRuns: 6000 });
 * ```
 */
export async function checkProperty<Ts>(
  t: Test,
  name: string,
  property: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>,
  params: fc.Parameters<Ts> = {},
): Promise<fc.RunDetails<Ts>> {
  const details = await fc.check(property, params);
  t.comment(`fast-check: ${details.numRuns} cases`);
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    t.fail(`${name}: failed after ${details.numRuns} cases`, { diagnostic: true, error, report: fc.defaultReportMessage(details) ?? 'no report' });
  } else {
    t.pass(`${name}: held for ${details.numRuns} generated cases`);
  }
  return details;
}
