import type { ServerResponse } from 'node:http';
import { SchemaError } from '../client/schema';
import { SandkastenError } from '../errors';

/**
 * An HTTP error in the shape Sandkasten v1 answers with: a status, an `error_code` from its
 * list (plus a few of ours, documented in the README), one sentence, and optional details.
 * Route code throws these; anything else thrown becomes a 500 that says nothing internal.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) => new ApiError(400, 'INVALID_REQUEST', message, details);

/** Which v1 error a domain error is, by its code; `notFoundCode` names what was missing (SESSION_NOT_FOUND, …). */
export function toApiError(error: unknown, notFoundCode = 'NOT_FOUND'): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof SchemaError) return badRequest(error.message);
  if (error instanceof SandkastenError) {
    const details = error.detail ? { detail: error.detail } : undefined;
    switch (error.codeName) {
      case 'NotFound':
        return new ApiError(404, notFoundCode, error.message);
      case 'InvalidInput':
      case 'InvalidName':
      case 'InvalidConfig':
        return new ApiError(400, 'INVALID_REQUEST', error.message, details);
      case 'ImageMissing':
        return new ApiError(400, 'INVALID_IMAGE', error.message, details);
      case 'Conflict':
        return new ApiError(409, 'CONFLICT', error.message);
      case 'DockerUnavailable':
        return new ApiError(503, 'ENGINE_UNAVAILABLE', error.message, details);
      case 'Timeout':
        return new ApiError(504, 'COMMAND_TIMEOUT', error.message);
      case 'RequestCancelled':
        return new ApiError(499, 'CANCELLED', error.message);
      default:
        break;
    }
  }
  return new ApiError(500, 'INTERNAL_ERROR', 'Internal error; the sidecar log has the details.');
}

/** Sends `body` as JSON (one write, with its length), unless the response was already started. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: ApiError, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, { error_code: error.errorCode, message: error.message, ...(error.details ? { details: error.details } : {}) }, headers);
}
