import { CLIENT_ID_ANNOTATION } from '../identity/constants.js';
import type { InventoryRow } from './inventory-rows.js';

export const INVENTORY_FORMATS = ['table', 'json', 'csv', 'markdown'] as const;
export type InventoryFormat = (typeof INVENTORY_FORMATS)[number];

/** What `table` and `markdown` print for an empty inventory. */
export const EMPTY_INVENTORY_MESSAGE = `no ServiceAccount carries ${CLIENT_ID_ANNOTATION}`;

/** Every output ends with a newline. */
export function formatInventory(rows: readonly InventoryRow[], format: InventoryFormat): string {
  switch (format) {
    case 'table':
      return formatTable(rows);
    case 'json':
      return `${JSON.stringify(rows, null, 2)}\n`;
    case 'csv':
      return formatCsv(rows);
    case 'markdown':
      return formatMarkdown(rows);
  }
}

const COLUMNS = ['NAMESPACE', 'SERVICEACCOUNT', 'CLIENT ID', 'IDENTITY', 'RESOURCE GROUP', 'OWNER', 'ENVIRONMENT', 'STATUS'] as const;

/** Headers and cells of the human formats; PODS only when some row has a count. */
function humanCells(rows: readonly InventoryRow[]): { header: string[]; body: string[][] } {
  const withPods = rows.some((row) => row.pods !== undefined);
  const header = withPods ? [...COLUMNS, 'PODS'] : [...COLUMNS];
  const body = rows.map((row) => {
    const cells = [row.namespace, row.serviceAccount, row.clientId, row.identityName, row.resourceGroup, row.owner, row.environment, statusCell(row)];
    if (withPods) cells.push(row.pods?.toString());
    return cells.map(humanValue);
  });
  return { header, body };
}

/** `denied (IdentityNotApproved,TenantMismatch)`; approved rows show no reasons. */
function statusCell(row: InventoryRow): string {
  return row.status === 'approved' || row.reasons.length === 0 ? row.status : `${row.status} (${row.reasons.join(',')})`;
}

/**
 * `-` for a missing or empty value. Control characters (a newline or an
 * escape sequence in an annotation or tag) are shown escaped, so a value can
 * neither break a row nor drive the terminal.
 */
function humanValue(value: string | undefined): string {
  if (value === undefined || value === '') return '-';
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function formatTable(rows: readonly InventoryRow[]): string {
  if (rows.length === 0) return `${EMPTY_INVENTORY_MESSAGE}\n`;
  const { header, body } = humanCells(rows);
  const lines = [header, ...body];
  const widths = header.map((_, i) => Math.max(...lines.map((cells) => (cells[i] ?? '').length)));
  // Three spaces between columns, as kubectl prints; no trailing spaces.
  return lines.map((cells) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('   ').trimEnd()).join('\n') + '\n';
}

function formatMarkdown(rows: readonly InventoryRow[]): string {
  if (rows.length === 0) return `${EMPTY_INVENTORY_MESSAGE}\n`;
  const { header, body } = humanCells(rows);
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), `|${header.map(() => ' --- ').join('|')}|`, ...body.map(line)].join('\n') + '\n';
}

/** Machine-friendly: every field of the row, named as in JSON, always the same columns. */
const CSV_COLUMNS = ['namespace', 'serviceAccount', 'clientId', 'identityName', 'resourceGroup', 'owner', 'environment', 'status', 'reasons', 'detail', 'pods'] as const;

/** RFC 4180 fields with `\n` line ends; undefined is an empty field, reasons are `;`-separated. */
function formatCsv(rows: readonly InventoryRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) {
    const fields = [row.namespace, row.serviceAccount, row.clientId, row.identityName, row.resourceGroup, row.owner, row.environment, row.status, row.reasons.join(';'), row.detail, row.pods?.toString()];
    lines.push(fields.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvField(value: string | undefined): string {
  if (value === undefined) return '';
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
