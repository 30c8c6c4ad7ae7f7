import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { ApiError, badRequest } from './apiError';

/** JSON bodies are at most this big (Sandkasten v1's limit); base64 file content counts. */
export const MAX_JSON_BODY_BYTES = 2 * 1024 * 1024;

/**
 * The request's body, whole, at most `limit` bytes (413 beyond, checked against
 * Content-Length first, so a too large body is refused before it is read), within the
 * server's request timeout (a slow body is cut off there).
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  try {
    return await getRawBody(req, { limit, length: req.headers['content-length'] });
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`, { max_bytes: limit });
    if (type === 'request.aborted') throw new ApiError(400, 'INVALID_REQUEST', 'The request body ended early.');
    if (type === 'request.size.invalid') throw badRequest('The request body does not match its Content-Length.');
    throw badRequest(`The request body could not be read: ${(error as Error).message}`);
  }
}

/**
 * The body as a JSON object. Like Sandkasten v1 the Content-Type is not required (curl sends
 * none); an empty body, invalid JSON or anything but an object is a 400.
 */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req, MAX_JSON_BODY_BYTES);
  if (body.length === 0) throw badRequest('invalid json: the body is empty; send a JSON object, e.g. {}');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw badRequest(`invalid json: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('invalid json: the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Typed reads of a JSON object's fields, each a 400 naming the field when it has the wrong type. */
export class Fields {
  constructor(private readonly body: Record<string, unknown>) {}

  string(name: string): string | undefined {
    const value = this.body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw badRequest(`invalid json: ${name} must be a string`);
    return value;
  }

  requiredString(name: string, message = `${name} is required`): string {
    const value = this.string(name);
    if (value === undefined || value === '') throw badRequest(message);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw badRequest(`invalid json: ${name} must be true or false`);
    return value;
  }

  /** A whole number from `min` to `max`; messages name the bounds as v1 does. */
  integer(name: string, min: number, max: number, tooLarge = `${name} must not exceed ${max}`): number | undefined {
    const value = this.body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw badRequest(`invalid json: ${name} must be a whole number`);
    if (value < min) throw badRequest(min === 0 ? `${name} must be non-negative` : `${name} must be at least ${min}`);
    if (value > max) throw badRequest(tooLarge);
    return value;
  }

  stringList(name: string): string[] | undefined {
    const value = this.body[name];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || value.some((entry) => typeof entry !== 'string')) throw badRequest(`invalid json: ${name} must be a list of strings`);
    return value as string[];
  }
}
