import type { DoctorReport, DoctorStatus } from '../../sidecar/client/protocol';
import { markdownText } from '../share/shareText';

/** The diagnostics report as Run Diagnostics shows it (no `vscode` here: tested on its own). */

const HEADINGS: Record<DoctorStatus, string> = { fail: '✗ Failed', warn: '⚠ Warning', pass: '✓ Passed', skip: '– Skipped' };

/** The report as Markdown: what needs doing first (failures, then warnings), then what passed. */
export function diagnosticsMarkdown(report: DoctorReport, home: string): string {
  const order: DoctorStatus[] = ['fail', 'warn', 'pass', 'skip'];
  const checks = [...report.checks].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status));
  const { pass, warn, fail, skip } = report.summary;
  const lines = [
    '# Sandkasten Diagnostics',
    '',
    `Storage directory ${inlineCode(home)}: ${pass} passed, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed${skip > 0 ? `, ${skip} skipped` : ''}. The same checks: \`sandkasten doctor\`.`,
  ];
  for (const check of checks) {
    lines.push('', `## ${HEADINGS[check.status]}: ${markdownText(check.title)}`, '', markdownWithCode(check.detail));
    if (check.fix) lines.push('', `**What to do:** ${isBareCommand(check.fix) ? inlineCode(check.fix) : markdownWithCode(check.fix)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A fix that is only a command to run (`chmod 700 DIR`), not a sentence with commands in backticks. */
function isBareCommand(fix: string): boolean {
  return !fix.includes('`') && !fix.trimEnd().endsWith('.');
}

/**
 * Text from the checks, whose commands are in backticks: the code spans stay code, the rest
 * is escaped (it may carry the engine's or a container's words, which must not become links).
 */
function markdownWithCode(text: string): string {
  const parts = text.split('`');
  if (parts.length % 2 === 0) return markdownText(text); // an odd backtick: no code spans to keep
  return parts.map((part, index) => (index % 2 === 1 ? inlineCode(part) : markdownText(part))).join('');
}

/** A code span that holds any text, backticks included. */
function inlineCode(text: string): string {
  const fence = '`'.repeat(Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  return `${fence}${fence.length > 1 ? ' ' : ''}${text}${fence.length > 1 ? ' ' : ''}${fence}`;
}
