// `npm run monitoring:generate`: writes the files built from their sources,
// which test/monitoring/ compares with what is committed:
//   charts/wi-admission/dashboards/wi-admission.json  ← scripts/monitoring/dashboard.ts
//   docs/alerts/wi-admission.rules.yaml               ← charts/wi-admission/templates/prometheusrule.yaml
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DASHBOARD_FILE, dashboardJson } from './dashboard.js';
import { RULES_FILE, renderRulesFile } from './rules.js';

for (const [path, text] of [[DASHBOARD_FILE, dashboardJson()], [RULES_FILE, renderRulesFile()]] as const) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  process.stdout.write(`wrote ${path}\n`);
}
