import type { ErrorCodeName, ErrorData } from './client/protocol';

/**
 * An error a person can act on: a typed code (see ErrorCode in the protocol) and one
 * sentence. Domain modules throw these through the helpers below; the server's registrar
 * turns them into the ResponseError a client sees, and anything else into Internal.
 * `detail` carries what the engine itself said (`dial tcp …: connection refused`), raw: the
 * sentence stays readable, and whoever needs the cause can still show it (ErrorData.detail).
 */
export class SandkastenError extends Error {
  constructor(
    readonly codeName: ErrorCodeName,
    message: string,
    readonly detail?: string,
    /** More for the client to read in ErrorData (a file request's kind of path). */
    readonly data: Pick<ErrorData, 'file'> = {},
  ) {
    super(message);
    this.name = 'SandkastenError';
  }
}

/** One helper per code, so a throw site reads as what went wrong. */
export const invalidInput = (message: string, detail?: string) => new SandkastenError('InvalidInput', message, detail);
export const invalidName = (message: string, detail?: string) => new SandkastenError('InvalidName', message, detail);
export const notFound = (message: string, detail?: string) => new SandkastenError('NotFound', message, detail);
export const conflict = (message: string, detail?: string) => new SandkastenError('Conflict', message, detail);
export const dockerUnavailableError = (message: string, detail?: string) => new SandkastenError('DockerUnavailable', message, detail);
export const imageMissing = (message: string, detail?: string) => new SandkastenError('ImageMissing', message, detail);
export const exists = (message: string, detail?: string) => new SandkastenError('Exists', message, detail);
export const forbidden = (message: string, detail?: string) => new SandkastenError('Forbidden', message, detail);
export const invalidConfig = (message: string, detail?: string) => new SandkastenError('InvalidConfig', message, detail);

export function hasCode(error: unknown, codeName: ErrorCodeName): boolean {
  return error instanceof SandkastenError && error.codeName === codeName;
}
