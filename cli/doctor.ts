import { homePaths } from '../sidecar/client/home';
import { unreachableSidecarReport } from '../sidecar/client/localDiagnosis';
import * as P from '../sidecar/client/protocol';
import { ErrorCodes, ResponseError, SidecarClient } from '../sidecar/client/sidecarClient';
import { print, UsageError } from './format';

export const DOCTOR_USAGE = `sandkasten doctor [--json] [--home DIR]

Checks what Sandkasten needs and prints one line per check, PASS, WARN, FAIL or SKIP, with
what to do about it indented under it: the sidecar; the Docker engine and its version; the
storage driver and how disk limits are enforced; cgroups and resource limits; the FIFO fast
path for command output; the default image; the pool; the hardening of new sandboxes;
network isolation; container runtimes; the storage directory's permissions; the HTTP API's
binding; the share endpoint's and forwarded ports' binding. Changes nothing (it starts the
sidecar when none runs). When no sidecar can be reached, says why and checks the storage
directory itself.

  --json   {"checks": [{"id", "title", "status", "detail", "fix"?}…], "summary": {"pass", "warn", "fail", "skip"}}

Exit codes: 0 nothing failed (warnings allowed), 1 at least one check failed, 2 bad usage.`;

const LABELS: Record<P.DoctorStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** The report for people: one line per check, its fix indented under it, then the counts. */
export function formatDoctorReport(report: P.DoctorReport): string {
  const lines = report.checks.flatMap((check) => [`${LABELS[check.status]}  ${check.title}: ${check.detail}`, ...(check.fix ? [`      fix: ${check.fix}`] : [])]);
  const { pass, warn, fail, skip } = report.summary;
  const counts = [`${pass} passed`, `${warn} warning${warn === 1 ? '' : 's'}`, `${fail} failed`, ...(skip > 0 ? [`${skip} skipped`] : [])].join(', ');
  return [...lines, '', fail > 0 ? `${counts}: fix what failed, then run sandkasten doctor again.` : `${counts}.`].join('\n');
}

/**
 * `sandkasten doctor`: asks the sidecar (starting it when none runs); when that fails, the
 * report says why, with the checks a client can make itself. Exit 1 when a check failed.
 */
export async function runDoctor(home: string, rest: string[], options: { json: boolean; sidecarScript: string }): Promise<number> {
  if (rest.length > 0) throw new UsageError('doctor takes no arguments.');
  let report: P.DoctorReport;
  let client: SidecarClient | undefined;
  try {
    client = await SidecarClient.connect({ home, sidecarScript: options.sidecarScript });
    report = await client.request(P.DoctorRequest.type, {});
  } catch (error) {
    report = unreachableSidecarReport(homePaths(home), whyNotAnswered(error));
  } finally {
    client?.close();
  }
  print(options.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
  return report.summary.fail > 0 ? 1 : 0;
}

function whyNotAnswered(error: unknown): string {
  if (error instanceof ResponseError && error.code === ErrorCodes.MethodNotFound) {
    return 'the sidecar running there is an older version without diagnostics. Stop it (`sandkasten daemon stop`; the next command starts the new one), then run `sandkasten doctor` again.';
  }
  if (error instanceof ResponseError && (error.code === ErrorCodes.PendingResponseRejected || error.code === ErrorCodes.ConnectionInactive)) {
    return 'the connection was lost (the sidecar stopped or crashed).';
  }
  return (error as Error)?.message ?? String(error);
}
