import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { writeFileAtomically } from '../store/durableFile';

/** 256 random bits, base64url: 43 characters. */
const TOKEN_BYTES = 32;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{22,128}$/;
const BEARER = 'Bearer ';

/**
 * The HTTP API's bearer token: made once, kept owner-only (0600) in the storage directory,
 * replaced by `rotate`. A request carries it as `Authorization: Bearer <token>`; the check
 * compares digests in constant time, so neither the content nor the length leaks through timing.
 */
export class ApiToken {
  private digest: Buffer;

  private constructor(
    private readonly file: string,
    private token: string,
  ) {
    this.digest = sha256(token);
  }

  /** Reads the token, or makes one when there is none (or the file holds something else). */
  static async open(file: string): Promise<ApiToken> {
    const existing = await fs.readFile(file, 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
    if (existing !== undefined && TOKEN_SHAPE.test(existing)) {
      await fs.chmod(file, 0o600); // whatever happened to it since, only its owner reads it
      return new ApiToken(file, existing);
    }
    const token = newToken();
    await writeFileAtomically(file, Buffer.from(`${token}\n`), 0o600);
    return new ApiToken(file, token);
  }

  get value(): string {
    return this.token;
  }

  /** Whether an Authorization header carries this token. */
  accepts(authorization: string | undefined): boolean {
    if (!authorization?.startsWith(BEARER)) return false;
    return timingSafeEqual(sha256(authorization.slice(BEARER.length)), this.digest);
  }

  /** A new token, durable before it is used; the old one is refused from then on. */
  async rotate(): Promise<string> {
    const token = newToken();
    await writeFileAtomically(this.file, Buffer.from(`${token}\n`), 0o600);
    this.token = token;
    this.digest = sha256(token);
    return token;
  }
}

function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
