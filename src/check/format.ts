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

/** SARIF 2.1.0 for code-scanning annotations: one rule per reason code, one result per finding. */
export function formatSarif(result: CheckResult, version: string): string {
  const findings = sortFindings(result);
  const reasons = [...new Set(findings.map((f) => f.reason))].sort();
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'wi-admission',
            version,
            rules: reasons.map((id) => ({
              id,
              name: id,
              shortDescription: { text: `wi-admission ${id} (see docs/errors.md)` },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.reason,
          ruleIndex: reasons.indexOf(f.reason),
          level: f.severity,
          message: { text: f.message },
          locations: [
            {
              physicalLocation: { artifactLocation: { uri: f.file.split('\\').join('/') }, region: { startLine: f.line } },
              logicalLocations: [{ name: `${f.namespace}/${f.name}`, kind: 'object', fullyQualifiedName: `${f.kind}/${f.namespace}/${f.name}` }],
            },
          ],
        })),
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
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
