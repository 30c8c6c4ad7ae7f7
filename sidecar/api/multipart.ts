import type { IncomingMessage } from 'node:http';
import { Busboy, type BusboyHeaders } from '@fastify/busboy';
import type { Clock } from '../util/clock';
import { ApiError, badRequest } from './apiError';

export interface UploadedFile {
  /** The form field it came in (`file`, `files`, …). */
  field: string;
  /** As the client sent it, directories and all (see uploadName). */
  filename: string;
  content: Buffer;
}

export interface MultipartForm {
  /** Plain fields; the first of a name counts. */
  fields: Map<string, string>;
  /** File parts (those with a `filename=`), in the order sent. */
  files: UploadedFile[];
}

export interface MultipartLimits {
  /** The whole body, framing included. */
  maxBytes: number;
  maxFiles: number;
}

/** Plain fields a form may have, and their size: an upload names a directory, nothing more. */
const MAX_FIELDS = 16;
const MAX_FIELD_BYTES = 16 * 1024;

/**
 * Reads a multipart/form-data body whole, within limits that hold while it arrives: a body
 * over `maxBytes` is a 413 as soon as its Content-Length says so (nothing read) or once that
 * many bytes came (chunked), more than `maxFiles` file parts a 400 at the one too many, a
 * malformed body a 400. Reading stops at the first error, the rest of the body unread (see
 * dropRestOfBody). A part is a file when it has a filename (Sandkasten v1's rule; its
 * content type does not matter).
 */
export function readMultipart(req: IncomingMessage, limits: MultipartLimits): Promise<MultipartForm> {
  const type = req.headers['content-type'];
  if (!type || !/^multipart\/form-data\s*;/i.test(type)) {
    return Promise.reject(badRequest('invalid multipart form: the Content-Type must be multipart/form-data with a boundary'));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) return Promise.reject(tooLarge(limits.maxBytes));
  let parser: ReturnType<typeof Busboy>;
  try {
    parser = Busboy({
      headers: req.headers as BusboyHeaders,
      // Filenames as sent: uploadName takes the last component itself (and refuses `..`).
      preservePath: true,
      isPartAFile: (_field, _contentType, filename) => filename !== undefined,
      limits: { files: limits.maxFiles, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: limits.maxFiles + MAX_FIELDS, headerPairs: 32 },
    });
  } catch (error) {
    return Promise.reject(badRequest(`invalid multipart form: ${(error as Error).message}`));
  }

  return new Promise<MultipartForm>((resolve, reject) => {
    const form: MultipartForm = { fields: new Map(), files: [] };
    let received = 0;
    let openFiles = 0;
    let parsed = false;
    let settled = false;
    const fail = (error: ApiError) => {
      if (settled) return;
      settled = true;
      req.off('data', count);
      req.unpipe(parser);
      req.pause();
      parser.removeAllListeners();
      parser.on('error', () => undefined);
      reject(error);
    };
    const finishIfDone = () => {
      if (settled || !parsed || openFiles > 0) return;
      settled = true;
      req.off('data', count);
      resolve(form);
    };
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBytes) fail(tooLarge(limits.maxBytes));
    };

    parser.on('file', (field, stream, filename) => {
      openFiles++;
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () => {
        openFiles--;
        form.files.push({ field, filename, content: Buffer.concat(chunks) });
        finishIfDone();
      });
      stream.once('error', (error: Error) => fail(badRequest(`invalid multipart form: ${error.message}`)));
    });
    parser.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) return fail(badRequest(`invalid multipart form: field ${JSON.stringify(name.slice(0, 40))} is longer than ${MAX_FIELD_BYTES} bytes`));
      if (!form.fields.has(name)) form.fields.set(name, value);
    });
    parser.on('filesLimit', () => fail(badRequest('too many files', { max_files: limits.maxFiles })));
    parser.on('fieldsLimit', () => fail(badRequest(`invalid multipart form: more than ${MAX_FIELDS} fields`)));
    parser.on('partsLimit', () => fail(badRequest('too many files', { max_files: limits.maxFiles })));
    parser.on('error', (error: unknown) => fail(badRequest(`invalid multipart form: ${(error as Error)?.message ?? String(error)}`)));
    parser.on('finish', () => {
      parsed = true;
      finishIfDone();
    });
    req.once('aborted', () => fail(badRequest('The request body ended early.')));
    req.once('error', () => fail(badRequest('The request body ended early.')));
    req.on('data', count);
    req.pipe(parser);
  });
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body too large: an upload is at most ${maxBytes} bytes`, { max_bytes: maxBytes });
}

/**
 * After an answer given before the request's body ended (too large, malformed, or refused
 * before it was read): reads and drops what still comes, at most `maxBytes` or for `maxMs`,
 * then closes the connection. Closing at once would not do: the client is still sending, and
 * data arriving at a closed socket makes its end reset the connection, which throws away the
 * answer it had not read yet (a lingering close, as web servers do). A body that ends within
 * the bounds leaves the connection open for the next request.
 */
export function dropRestOfBody(req: IncomingMessage, clock: Clock, limits: { maxBytes: number; maxMs: number }): void {
  if (req.complete || req.destroyed) return;
  let dropped = 0;
  const stop = () => {
    timer.cancel();
    req.off('data', drop);
    req.off('end', stop);
    req.off('close', stop);
  };
  const close = () => {
    stop();
    req.socket.destroy();
  };
  const drop = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > limits.maxBytes) close();
  };
  const timer = clock.setTimeout(close, limits.maxMs);
  req.on('data', drop);
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
}
