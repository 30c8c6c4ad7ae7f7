import { ResponseError } from 'vscode-languageserver-protocol';
import { ErrorCode, type ErrorCodeName } from './client/protocol';

/** An error a person can act on: a typed code and one sentence. Thrown by domain modules. */
export class SandkastenError extends Error {
  constructor(
    readonly codeName: ErrorCodeName,
    message: string,
  ) {
    super(message);
    this.name = 'SandkastenError';
  }
}

export const invalidInput = (message: string) => new SandkastenError('InvalidInput', message);
export const notFound = (message: string) => new SandkastenError('NotFound', message);
export const conflict = (message: string) => new SandkastenError('Conflict', message);

/** Errors from docker-modem when the engine's socket or port does not answer. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', 'EPIPE']);

export function isDockerUnreachable(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

/** Turns anything thrown by a handler into the ResponseError sent to the client. */
export function toResponseError(error: unknown): ResponseError<{ code: string }> {
  if (error instanceof ResponseError) return error;
  if (error instanceof SandkastenError) {
    return new ResponseError(ErrorCode[error.codeName], error.message, { code: error.codeName });
  }
  if (isDockerUnreachable(error)) {
    return new ResponseError(
      ErrorCode.DockerUnavailable,
      `Docker is not reachable (${(error as Error).message}). Start the Docker engine or check DOCKER_HOST, then retry.`,
      { code: 'DockerUnavailable' },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ResponseError(ErrorCode.Internal, `Internal error: ${message}`, { code: 'Internal' });
}
