import { CHECK_RULE_IDS, CHECK_RULES, DEFAULT_ERRORS_DOC_URL, isCheckRuleId, ruleHelpUri } from './rules.js';
import type { CheckResult } from './run-check.js';

export type CheckOutputFormat = 'text' | 'json' | 'sarif';

/** Compiler-style: findings grouped per file in order, then the mutation previews, then a summary. */
export function formatText(result: CheckResult): string {
  const lines: string[] = [];
  let lastFile: string | undefined;
  for (const f of sortFindings(result)) {
    if (lastFile !== undefined && f.file !== lastFile) lines.push('');
    lastFile = f.file;
    lines.push(`${f.file}:${f.line}: ${f.severity}: ${f.message}`);
  }
  for (const m of result.mutations) {
    if (lines.length > 0) lines.push('');
    lines.push(`${m.file}:${m.line}: ${m.kind} ${m.namespace}/${m.name}: the mutating webhook would ${m.denied ? 'refuse the pod' : m.operations.length > 0 ? 'change the pod' : 'change nothing'}`);
    if (m.denied) lines.push(`  ${m.denied}`);
    for (const op of m.operations) {
      const value = 'value' in op ? ` ${JSON.stringify(op.value)}` : '';
      lines.push(`  ${op.op === 'add' ? '+' : '~'} ${m.podPath}${op.path}${value}`);
    }
  }
  const { errors, warnings } = count(result);
  if (lines.length > 0) lines.push('');
  lines.push(`${result.checked} object${result.checked === 1 ? '' : 's'} checked: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}

export function formatJson(result: CheckResult): string {
  const { errors, warnings } = count(result);
  return `${JSON.stringify({ findings: sortFindings(result), mutations: result.mutations, summary: { checked: result.checked, errors, warnings } }, null, 2)}\n`;
}

/** One SARIF result: a finding, or a pod the mutating webhook would refuse. */
interface SarifItem {
  readonly reason: string;
  readonly level: 'error' | 'warning';
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/**
 * SARIF 2.1.0 for code-scanning tools: the full rule set (every reason,
 * whether or not it fired: tools show rules that are absent from a run as
 * fixed), each with its description, fix and a link to its section of
 * docs/errors.md; one result per finding and per refused pod.
 */
export function formatSarif(result: CheckResult, version: string, docsUrl: string = DEFAULT_ERRORS_DOC_URL): string {
  const items: SarifItem[] = [
    ...sortFindings(result).map((f) => ({ ...f, level: f.severity })),
    ...result.mutations.flatMap((m) => (m.denied ? [{ ...m, level: 'error' as const, message: m.denied, reason: reasonOf(m.denied) ?? 'ServiceAccountNotFound' }] : [])),
  ];
  const extra = [...new Set(items.map((i) => i.reason).filter((r) => !isCheckRuleId(r)))].sort();
  const ids: string[] = [...CHECK_RULE_IDS, ...extra];
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'wi-admission', version, informationUri: docsUrl, rules: ids.map((id) => sarifRule(id, docsUrl)) } },
        results: items.map((i) => ({
          ruleId: i.reason,
          ruleIndex: ids.indexOf(i.reason),
          level: i.level,
          message: { text: i.message },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: toUriReference(i.file) }, region: { startLine: i.line } },
              logicalLocations: [{ name: `${i.namespace}/${i.name}`, kind: 'object', fullyQualifiedName: `${i.kind}/${i.namespace}/${i.name}` }],
            },
          ],
        })),
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

function sarifRule(id: string, docsUrl: string): Record<string, unknown> {
  if (!isCheckRuleId(id)) return { id, name: id, shortDescription: { text: id } };
  const rule = CHECK_RULES[id];
  const helpUri = ruleHelpUri(id, docsUrl);
  return {
    id,
    name: id,
    shortDescription: { text: rule.summary },
    fullDescription: { text: rule.description },
    helpUri,
    help: {
      text: `${rule.description} Fix: ${rule.fix} See ${helpUri}`,
      markdown: `**${rule.summary}**\n\n${rule.description}\n\n**Fix:** ${rule.fix}\n\n[${id} in docs/errors.md](${helpUri})`,
    },
  };
}

/** A relative URI for a path: `/` separators, each segment escaped (spaces, `#`, and `<stdin>` are not URI characters). */
function toUriReference(path: string): string {
  return path.split(/[\\/]/).map(encodeURIComponent).join('/');
}

/** The `[Reason]` a message ends with. */
function reasonOf(message: string): string | undefined {
  return /\[([A-Za-z]+)\]$/.exec(message)?.[1];
}

function sortFindings(result: CheckResult): CheckResult['findings'] {
  return [...result.findings].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
}

export function count(result: CheckResult): { errors: number; warnings: number } {
  return {
    errors: result.findings.filter((f) => f.severity === 'error').length + result.mutations.filter((m) => m.denied).length,
    warnings: result.findings.filter((f) => f.severity === 'warning').length,
  };
}
