import type { ErrorCodeName } from './client/protocol';

/**
 * An error a person can act on: a typed code (see ErrorCode in the protocol) and one
 * sentence. Domain modules throw these through the helpers below; the server's registrar
 * turns them into the ResponseError a client sees, and anything else into Internal.
 */
export class SandkastenError extends Error {
  constructor(
    readonly codeName: ErrorCodeName,
    message: string,
  ) {
    super(message);
    this.name = 'SandkastenError';
  }
}

/** One helper per code, so a throw site reads as what went wrong. */
export const invalidInput = (message: string) => new SandkastenError('InvalidInput', message);
export const invalidName = (message: string) => new SandkastenError('InvalidName', message);
export const notFound = (message: string) => new SandkastenError('NotFound', message);
export const conflict = (message: string) => new SandkastenError('Conflict', message);
export const dockerUnavailableError = (message: string) => new SandkastenError('DockerUnavailable', message);
export const imageMissing = (message: string) => new SandkastenError('ImageMissing', message);
export const invalidConfig = (message: string) => new SandkastenError('InvalidConfig', message);

export function hasCode(error: unknown, codeName: ErrorCodeName): boolean {
  return error instanceof SandkastenError && error.codeName === codeName;
}
