/** Cells a spreadsheet would read as a formula (CWE-1236): `=`, `+`, `-`, `@`, and tab or CR first. */
const formulaStart = /^[=+\-@\t\r]/

/** One CSV cell: formula-safe (a leading `'`), quoted as RFC 4180 says when it must be. */
export function csvCell(value: string | number | null): string {
  if (value === null) return ''
  let text = String(value)
  if (typeof value === 'string' && formulaStart.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One CSV line, CRLF-terminated (RFC 4180). */
export const csvLine = (cells: readonly (string | number | null)[]): string =>
  `${cells.map(csvCell).join(',')}\r\n`
