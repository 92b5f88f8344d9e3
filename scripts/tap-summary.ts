// Counts a node-tap TAP stream for `npm test` (scripts/run-tests.mjs): every
// assertion once, every skip named, and a test or file that asserted nothing
// as a failure unless it declared why. The rules are in docs/development.md.
import { Parser, type Result } from 'tap-parser';

/** tap's reason for a file or subtest that ended without a single test point. */
export const NO_TESTS_FOUND = 'no tests found';
/** The TAP comment a property test writes (test/helpers/property.ts): `# fast-check: 6000 cases`. */
export const PROPERTY_CASES_COMMENT = /^#\s*fast-check:\s*(\d+)\s+cases?\b/;

export interface NamedEntry {
  /** `file > subtest > assertion`, as the TAP stream names it. */
  readonly name: string;
  readonly reason: string;
  /** True when a whole test file was skipped (`t.plan(0, reason)`). */
  readonly wholeFile?: boolean;
  /** Diagnostics of a failed assertion (YAML block), if any. */
  readonly diag?: unknown;
}

export interface TapSummary {
  passed: number;
  failed: number;
  /** Skips that declared a reason; each is named in `skips`. */
  skipped: number;
  todo: number;
  /** Top-level subtests: one per test file when tap runs files. */
  files: number;
  /** Generated cases of property tests, from their `# fast-check: N cases` comments. */
  propertyCases: number;
  properties: number;
  readonly skips: NamedEntry[];
  readonly todos: NamedEntry[];
  readonly failures: NamedEntry[];
}

interface Node {
  readonly parent: Node | undefined;
  readonly depth: number;
  /** Test points (assertions, skips, todos) inside, at any depth. */
  points: number;
  /** Failures recorded inside, at any depth. */
  failed: number;
  /** The subtest opened last, until the test point that closes it arrives. */
  open: Node | undefined;
}

/**
 * Attaches to `parser` (the root of tap's stream) and fills the returned
 * summary as the stream is parsed; it is complete on the parser's `complete`
 * event. `onFailure` hears each failure as it is found.
 */
export function countTap(parser: Parser, onFailure: (failure: NamedEntry) => void = () => undefined): TapSummary {
  const summary: TapSummary = { passed: 0, failed: 0, skipped: 0, todo: 0, files: 0, propertyCases: 0, properties: 0, skips: [], todos: [], failures: [] };
  const fail = (node: Node, entry: NamedEntry): void => {
    summary.failed++;
    summary.failures.push(entry);
    for (let n: Node | undefined = node; n; n = n.parent) n.failed++;
    onFailure(entry);
  };
  const countPoint = (node: Node): void => {
    for (let n: Node | undefined = node; n; n = n.parent) n.points++;
  };

  const follow = (p: Parser, node: Node): void => {
    p.on('child', (child: Parser) => {
      if (node.depth === 0) summary.files++;
      const opened: Node = { parent: node, depth: node.depth + 1, points: 0, failed: 0, open: undefined };
      node.open = opened;
      follow(child, opened);
    });
    p.on('comment', (line: string) => {
      const cases = PROPERTY_CASES_COMMENT.exec(line.trim());
      if (!cases) return;
      summary.propertyCases += Number(cases[1]);
      summary.properties++;
    });
    p.on('assert', (point: Result) => {
      const name = displayName(point);
      // The point that closes a subtest (matched by position, never by its
      // name, which TAP escapes differently in the two places).
      const closed = point.closingTestPoint ? node.open : undefined;
      if (closed) {
        node.open = undefined;
        closeSubtest(point, name, node, closed);
        return;
      }
      countPoint(node);
      if (point.todo !== false) {
        summary.todo++;
        summary.todos.push({ name, reason: reasonText(point.todo) });
      } else if (point.skip !== false) {
        const reason = reasonText(point.skip);
        if (isDeclaredReason(reason)) {
          summary.skipped++;
          summary.skips.push({ name, reason });
        } else {
          fail(node, { name, reason: "skipped without a reason: say why, e.g. { skip: 'Go is not installed' }" });
        }
      } else if (point.ok) {
        summary.passed++;
      } else {
        fail(node, { name, reason: 'failed', diag: point.diag ?? undefined });
      }
    });
    p.on('bailout', (reason: string) => fail(node, { name: p.fullname || 'tap', reason: `bailed out: ${reason || 'no reason given'}` }));
  };

  const closeSubtest = (point: Result, name: string, parent: Node, closed: Node): void => {
    const wholeFile = closed.depth === 1;
    if (!point.ok && point.todo === false && point.skip === false) {
      // Failed with no failing assertion inside: a thrown error, a timeout, a crash, a bad plan.
      if (closed.failed === 0) fail(parent, { name, reason: wholeFile ? 'the file failed (crash, timeout or exit code)' : 'failed', diag: point.diag ?? undefined });
      return;
    }
    if (closed.points > 0) return;
    // Nothing ran inside: fine only when it says why.
    countPoint(parent);
    if (point.todo !== false) {
      summary.todo++;
      summary.todos.push({ name, reason: reasonText(point.todo), wholeFile });
      return;
    }
    const reason = point.skip === false ? '' : reasonText(point.skip);
    if (isDeclaredReason(reason)) {
      summary.skipped++;
      summary.skips.push({ name, reason, wholeFile });
      return;
    }
    fail(parent, {
      name,
      reason: `${wholeFile ? 'the file' : 'the test'} ran no assertion${reason ? ` (tap: ${reason})` : ''}; ` +
        `if it is meant to skip, declare why with ${wholeFile ? "t.plan(0, 'reason')" : "{ skip: 'reason' }"}`,
      wholeFile,
    });
  };

  const root: Node = { parent: undefined, depth: 0, points: 0, failed: 0, open: undefined };
  follow(parser, root);
  parser.on('complete', (results: { ok: boolean; plan?: { start?: number; end?: number } }) => {
    // A stream cut short (a plan not met) without any failing point seen.
    if (!results.ok && summary.failed === 0) fail(root, { name: 'tap', reason: 'the TAP stream was incomplete or invalid' });
  });
  return summary;
}

/** Parses a whole TAP text (tests of this module, saved reports). */
export function summarizeTap(text: string): Promise<TapSummary> {
  const parser = new Parser();
  const summary = countTap(parser);
  return new Promise((resolve) => {
    parser.on('complete', () => resolve(summary));
    parser.end(text);
  });
}

/** The summary lines printed before the final `N passed, N failed`. */
export function formatSummary(summary: TapSummary): string[] {
  const lines: string[] = [];
  const list = (title: string, entries: readonly NamedEntry[]): void => {
    if (entries.length === 0) return;
    lines.push(`${title} (${entries.length}):`);
    for (const e of entries) lines.push(`  - ${e.name}${e.wholeFile ? ' (whole file)' : ''}: ${e.reason}`);
  };
  list('Skipped', summary.skips);
  list('Todo', summary.todos);
  const cases = summary.properties > 0 ? ` (+${summary.propertyCases} fast-check cases in ${summary.properties} properties)` : '';
  lines.push(
    `tests: ${summary.passed} passed${cases}, ${summary.failed} failed, ${summary.skipped} skipped, ${summary.todo} todo, in ${summary.files} files`,
  );
  return lines;
}

function reasonText(directive: string | boolean): string {
  return typeof directive === 'string' ? directive.trim() : '';
}

/** A reason someone wrote, not tap's automatic one. */
function isDeclaredReason(reason: string): boolean {
  return reason !== '' && reason !== NO_TESTS_FOUND;
}

/** The point's full name, with TAP's `\#` and `\\` escapes (kept in subtest names) undone. */
function displayName(point: Result): string {
  return (point.fullname || point.name).replace(/\\([#\\])/g, '$1');
}
