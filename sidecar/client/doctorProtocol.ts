/**
 * Diagnostics (`sandkasten doctor`, the Run Diagnostics command): part of the wire protocol,
 * re-exported by protocol.ts. The sidecar runs the checks, since it knows the engine, the
 * settings, the storage directory, the pool and the HTTP API; a client that cannot reach the
 * sidecar makes the few checks it can itself (see localDiagnosis.ts).
 */
import { RequestType } from 'vscode-languageserver-protocol';
import * as S from './schema';

/**
 * pass: fine. warn: works, but worse or less safe than it could be. fail: something does not
 * work or is unsafe, and needs the fix. skip: could not be checked because something it
 * depends on failed (Docker is not reachable); the failing line says why.
 */
export const DOCTOR_STATUSES = ['pass', 'warn', 'fail', 'skip'] as const;
export type DoctorStatus = (typeof DOCTOR_STATUSES)[number];

/** One line of the report. */
export interface DoctorCheck {
  /** Stable, for scripts: `docker`, `storage-directory`, `api`… (see DOCTOR_CHECK_TITLES). */
  id: DoctorCheckId;
  title: string;
  status: DoctorStatus;
  /** What was found, in a sentence or two. */
  detail: string;
  /** What to do about it, with the command to run when there is one; for warn and fail. */
  fix?: string;
}

/** Every check and its title, in the order the report lists them. */
export const DOCTOR_CHECK_TITLES = {
  sidecar: 'Sidecar',
  docker: 'Docker engine',
  'storage-driver': 'Storage driver and disk limits',
  cgroups: 'Cgroups and resource limits',
  fifo: 'FIFO fast path for command output',
  images: 'Images',
  pool: 'Pool',
  hardening: 'Sandbox hardening',
  network: 'Network isolation',
  runtime: 'Container runtime',
  'storage-directory': 'Storage directory',
  api: 'HTTP API binding',
  listeners: 'Share endpoint and forwarded ports',
} as const;
export type DoctorCheckId = keyof typeof DOCTOR_CHECK_TITLES;

export interface DoctorReport {
  checks: DoctorCheck[];
  /** How many lines have each status. */
  summary: Record<DoctorStatus, number>;
}

export namespace DoctorRequest {
  export const params = S.noParams;
  export const method = 'sandkasten/doctor';
  /** Runs every check (each has a deadline) and changes nothing; a probe FIFO it makes is removed at once. */
  export const type = new RequestType<Record<string, never>, DoctorReport, void>(method);
}

/** A line of the report: the check's title goes with its id. */
export function doctorCheck(id: DoctorCheckId, status: DoctorStatus, detail: string, fix?: string): DoctorCheck {
  return { id, title: DOCTOR_CHECK_TITLES[id], status, detail, ...(fix ? { fix } : {}) };
}

/** A report of these checks, with its summary. */
export function doctorReport(checks: DoctorCheck[]): DoctorReport {
  const summary: Record<DoctorStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const check of checks) summary[check.status]++;
  return { checks, summary };
}
