/**
 * The join code and link of a share. The code is a URL a person can read and paste:
 * `ws://127.0.0.1:41234/share#SECRET`, or with TLS `wss://host:port/share?fp=SHA256#SECRET`,
 * where `fp` pins the host's certificate (a self-signed one works, and nobody in between can
 * stand in for the host). The secret sits after `#`, so it never appears in a request line or
 * a proxy's log: the guest sends it in a header of its own. The link wraps the code for VS Code.
 */
import { invalidInput } from '../errors';
import { SHARE_PATH } from './wire';

export const EXTENSION_ID = 'sandkasten.sandkasten';
/** A secret is 32 random bytes, base64url: 256 bits (the issue asks for at least 128). */
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const FINGERPRINT_PATTERN = /^[0-9a-f]{64}$/;

export interface JoinCode {
  /** `ws://…/share` or `wss://…/share`. */
  url: string;
  secret: string;
  /** SHA-256 of the host's certificate (DER), lowercase hex; only with wss. */
  fingerprint?: string;
}

export function formatCode(code: JoinCode): string {
  const query = code.fingerprint ? `?fp=${code.fingerprint}` : '';
  return `${code.url}${query}#${code.secret}`;
}

export function formatLink(code: string): string {
  return `vscode://${EXTENSION_ID}/join?code=${encodeURIComponent(code)}`;
}

const NOT_A_CODE = 'This is not a Sandkasten join code or link. Paste what the host copied: a link starting vscode:// or a code starting ws:// or wss://.';

/** Reads a code, or the link around one (`vscode://…/join?code=…`, code-server's own scheme too). */
export function parseCode(input: string): JoinCode {
  let text = input.trim();
  if (text.length > 4096) throw invalidInput(NOT_A_CODE);
  if (!/^wss?:\/\//i.test(text)) {
    let link: URL;
    try {
      link = new URL(text);
    } catch {
      throw invalidInput(NOT_A_CODE);
    }
    const inner = link.searchParams.get('code');
    if (!inner) throw invalidInput(NOT_A_CODE);
    text = inner.trim();
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidInput(NOT_A_CODE);
  }
  if ((url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.pathname !== SHARE_PATH || url.username || url.password) throw invalidInput(NOT_A_CODE);
  const secret = url.hash.slice(1);
  if (!SECRET_PATTERN.test(secret)) throw invalidInput('The join code is incomplete: its secret (after #) is missing or cut off. Copy the whole code again.');
  const fingerprint = url.searchParams.get('fp') ?? undefined;
  if (fingerprint !== undefined && !FINGERPRINT_PATTERN.test(fingerprint)) throw invalidInput('The join code has a damaged certificate fingerprint (fp=…). Copy the whole code again.');
  if (url.protocol === 'wss:' && !fingerprint) throw invalidInput('The join code uses TLS but names no certificate fingerprint (fp=…). Copy the whole code again.');
  return { url: `${url.protocol}//${url.host}${SHARE_PATH}`, secret, fingerprint };
}
