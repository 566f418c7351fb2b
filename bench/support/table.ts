// Plain-text table for the terminal: right-aligned numbers with thousands separators.
import type { Column, Value } from '../case.js';

function cell(v: Value | undefined, digits: number): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) return '-';
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  return String(v);
}

export function renderTable(columns: readonly Column[], rows: readonly Record<string, Value>[]): string {
  const head = columns.map((c) => (c.unit ? `${c.label} (${c.unit})` : c.label));
  const body = rows.map((r) => columns.map((c) => cell(r[c.key], c.digits ?? 0)));
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const numeric = columns.map((c) => rows.some((r) => typeof r[c.key] === 'number'));
  const line = (cells: string[]): string =>
    cells.map((s, i) => (numeric[i] ? s.padStart(width[i]!) : s.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
