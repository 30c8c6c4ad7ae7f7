import { conflict, dockerUnavailableError, invalidInput, SandkastenError } from '../errors';

/**
 * The only place that reads dockerode's errors. Docker answers with HTTP status codes and
 * docker-modem with socket error codes; the engine turns them into SandkastenErrors (typed
 * codes a person can act on) so no domain module ever looks at a status code.
 */

/** Errors from docker-modem when the engine's socket or port does not answer. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EPIPE', 'ESSHFAILED']);

/** Node's codes for an engine certificate the CA in ca.pem does not vouch for. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

function isTlsFailure(code: string): boolean {
  return UNTRUSTED_CERTIFICATE_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('CERT_');
}

export function isDockerUnreachable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return typeof code === 'string' && (UNREACHABLE_CODES.has(code) || isTlsFailure(code));
}

/** `text` ending in exactly one full stop. */
export function asSentence(text: string): string {
  return `${text.trim().replace(/[.\s]+$/, '')}.`;
}

/** Why the engine cannot be reached, as a person would want it said (TLS and ssh in their words). */
export function unreachableReason(error: unknown): string {
  const code = (error as { code?: string })?.code ?? '';
  const message = String((error as Error)?.message ?? error).split('\n')[0];
  if (code === 'ESSHFAILED') return message;
  if (UNTRUSTED_CERTIFICATE_CODES.has(code)) return `the engine's TLS certificate is not signed by the CA in ca.pem (certificate mismatch: ${message}); check DOCKER_CERT_PATH or the context`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the engine's TLS certificate is for another host name (${message})`;
  if (code === 'CERT_HAS_EXPIRED') return `the engine's TLS certificate has expired`;
  if (/alert (unknown ca|bad certificate|certificate required|certificate unknown|decrypt error)/i.test(message)) {
    return 'the engine refused our client certificate: cert.pem is not signed by a CA the engine trusts (check DOCKER_CERT_PATH or the context)';
  }
  if (isTlsFailure(code)) return `the TLS handshake with the engine failed (${message})`;
  return message;
}

export function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number })?.statusCode;
}

/** Docker's own message without docker-modem's "(HTTP code 404) no such container - " prefix. */
export function dockerMessage(error: unknown): string {
  return String((error as Error)?.message ?? error)
    .split('\n')[0]
    .replace(/^\(HTTP code \d+\) [^-]*- /, '');
}

/** The engine refused a bind mount: it does not run on this machine after all. */
export class BindMountRefusedError extends Error {
  constructor(readonly source: string) {
    super(`The Docker engine refused to mount ${source}.`);
    this.name = 'BindMountRefusedError';
  }
}

export function dockerUnavailable(detail: string): SandkastenError {
  return dockerUnavailableError(`${detail} Start the Docker engine or check DOCKER_HOST, then retry.`);
}

/**
 * Maps what dockerode threw while working on `subject` (e.g. `container 3f2a…`) to a
 * SandkastenError; an error it cannot classify is returned as it is (an Internal error).
 * A missing object is a Conflict, not NotFound: the client asked for a session or a
 * workspace that exists, whose container or volume went away behind the sidecar's back
 * (NotFound is for ids the client named that do not exist).
 */
export function fromDockerError(error: unknown, subject: string): unknown {
  if (error instanceof SandkastenError || error instanceof BindMountRefusedError) return error;
  if (isDockerUnreachable(error)) return dockerUnavailable(`Docker is not reachable: ${asSentence(unreachableReason(error))}`);
  switch (statusCode(error)) {
    case 404:
      return conflict(`Docker has no ${subject} any more: it was removed outside Sandkasten (${dockerMessage(error)}).`);
    case 409:
      return conflict(`Docker refused to act on ${subject}: ${dockerMessage(error)}.`);
    case 400:
      return invalidInput(`Docker refused the request for ${subject}: ${dockerMessage(error)}.`);
    default:
      return error;
  }
}

/** Runs a Docker call, mapping its errors; `ignored` status codes resolve to undefined (idempotent calls). */
export async function dockerCall<T>(subject: string, call: () => Promise<T>, ...ignored: number[]): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (ignored.includes(statusCode(error) ?? 0)) return undefined;
    throw fromDockerError(error, subject);
  }
}
