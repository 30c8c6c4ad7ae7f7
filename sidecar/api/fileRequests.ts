import type { ServerResponse } from 'node:http';
import { badRequest } from './apiError';
import type { MultipartForm, UploadedFile } from './multipart';

/** Sandkasten v1's read limits: 10 MiB unless asked, at most 100 MiB. */
export const DEFAULT_READ_BYTES = 10 * 1024 * 1024;
export const MAX_READ_BYTES = 100 * 1024 * 1024;
/** v1's upload limits: the whole request, and files per request. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const MAX_UPLOAD_FILES = 100;

/**
 * A write's bytes from its JSON fields. Exactly one of `text` (UTF-8) and `content_base64`
 * says what to write, as in Sandkasten v1 — except that an empty value counts when its key is
 * there, so an empty file can be written (v1 refused `""`; no SDK relies on that).
 */
export function writeContent(text: string | undefined, contentBase64: string | undefined): Buffer {
  if (text === undefined && contentBase64 === undefined) throw badRequest("either 'text' or 'content_base64' must be provided");
  if (text && contentBase64) throw badRequest("provide either 'text' or 'content_base64', not both");
  if (contentBase64) return decodeBase64(contentBase64);
  return Buffer.from(text ?? '', 'utf8');
}

/**
 * Standard base64 (RFC 4648: `+` and `/`), padded or not; line breaks are ignored (Go's
 * decoder, which v1 used, does so too). Anything else is a 400, never a half-decoded file.
 */
export function decodeBase64(value: string): Buffer {
  const text = value.replace(/[\r\n]/g, '');
  const valid = /^[A-Za-z0-9+/]*(?:={1,2})?$/.test(text) && (text.includes('=') ? text.length % 4 === 0 : text.length % 4 !== 1);
  if (!valid) throw badRequest('content_base64 is not valid base64 (standard alphabet, with padding)');
  return Buffer.from(text, 'base64');
}

/** `max_bytes` of a read: absent, empty or 0 is the default; at most MAX_READ_BYTES. */
export function readLimit(value: string | null): number {
  if (value === null || value === '') return DEFAULT_READ_BYTES;
  if (!/^-?\d{1,16}$/.test(value)) throw badRequest(`max_bytes must be a whole number, not ${JSON.stringify(value.slice(0, 40))}`);
  const limit = Number(value);
  if (limit < 0) throw badRequest('max_bytes must be non-negative');
  if (limit > MAX_READ_BYTES) throw badRequest(`max_bytes must not exceed ${MAX_READ_BYTES} (100MB)`);
  return limit || DEFAULT_READ_BYTES;
}

/** The files of an upload: the parts named `file`, or else those named `files` (never both, as in v1). */
export function uploadedFiles(form: MultipartForm): UploadedFile[] {
  const named = (field: string) => form.files.filter((file) => file.field === field);
  const files = named('file').length > 0 ? named('file') : named('files');
  if (files.length === 0) throw badRequest("no file provided: use form field 'file' or 'files'");
  return files;
}

/** The length of `bytes` bytes in padded base64. */
export const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

/**
 * Base64 of the bytes in `chunks`, piece by piece (each piece ends on a 3-byte boundary but
 * the last), so a 100 MiB read never becomes one 133 MB string.
 */
export function* base64Pieces(chunks: Buffer[]): Generator<string> {
  let carry = Buffer.alloc(0);
  for (const chunk of chunks) {
    const joined = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const whole = joined.length - (joined.length % 3);
    if (whole > 0) yield joined.toString('base64', 0, whole);
    carry = Buffer.from(joined.subarray(whole));
  }
  if (carry.length > 0) yield carry.toString('base64');
}

/**
 * Answers a read: `{path, truncated, content_base64}` as JSON, the content streamed as it is
 * encoded (with the client's back-pressure) and its length known up front. Stops when the
 * client leaves.
 */
export async function sendReadAnswer(res: ServerResponse, fields: { path: string; truncated: boolean }, chunks: Buffer[], bytes: number): Promise<void> {
  const head = Buffer.from(`{"path":${JSON.stringify(fields.path)},"truncated":${fields.truncated},"content_base64":"`);
  const tail = Buffer.from('"}\n');
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': head.length + base64Length(bytes) + tail.length });
  res.write(head);
  for (const piece of base64Pieces(chunks)) {
    if (res.destroyed) return;
    if (!res.write(piece)) await new Promise<void>((resolve) => {
      const go = () => (res.off('drain', go), res.off('close', go), resolve());
      res.once('drain', go);
      res.once('close', go);
    });
  }
  res.end(tail);
}
