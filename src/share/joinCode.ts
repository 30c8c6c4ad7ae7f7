/**
 * What a person pastes to join a shared session, read before anything is sent: the link the
 * host copied (`vscode://sandkasten.sandkasten/join?code=…`) or the plain code inside it
 * (`ws://host:port/share#SECRET`, with TLS `wss://host:port/share?fp=SHA256#SECRET`). Only
 * the shape is checked here, so a typo gets an answer at once; the sidecar is the authority on
 * the rest. No `vscode` import: unit tests read it directly.
 */

/** The code to send to `share/join`, or the sentence that says what is wrong with the input. */
export type JoinInput = { code: string; address: string } | { problem: string };

const NOT_A_CODE = 'Paste what the host copied: a link starting vscode:// or a code starting ws:// or wss://.';
const CUT_OFF = 'The code is incomplete: its secret (after #) is missing or cut off. Copy the whole link or code again.';
/** Longer than any link the sidecar makes; guards the input box against a pasted file. */
const MAX_INPUT_LENGTH = 4096;

export function readJoinInput(input: string): JoinInput {
  const text = input.trim();
  if (text === '') return { problem: NOT_A_CODE };
  if (text.length > MAX_INPUT_LENGTH) return { problem: `That is too long for a join link. ${NOT_A_CODE}` };
  if (/^wss?:\/\//i.test(text)) return readCode(text);
  let link: URL;
  try {
    link = new URL(text);
  } catch {
    return { problem: `This is not a Sandkasten join link or code. ${NOT_A_CODE}` };
  }
  const inner = link.searchParams.get('code');
  if (!inner) return { problem: `This link holds no join code (…/join?code=…). ${NOT_A_CODE}` };
  return readCode(inner.trim());
}

function readCode(text: string): JoinInput {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `This is not a Sandkasten join code. ${NOT_A_CODE}` };
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return { problem: `A join code starts with ws:// or wss://. ${NOT_A_CODE}` };
  if (!url.host || url.pathname !== '/share') return { problem: `This is not a Sandkasten join code: it names no share endpoint (…/share#…). ${NOT_A_CODE}` };
  if (!/^[A-Za-z0-9_-]+$/.test(url.hash.slice(1))) return { problem: CUT_OFF };
  if (url.protocol === 'wss:' && !url.searchParams.get('fp')) {
    return { problem: 'The code uses TLS (wss://) but names no certificate fingerprint (?fp=…). Copy the whole link or code again.' };
  }
  return { code: text, address: url.host };
}

/** The code of a `…/join?code=…` link as VS Code hands it over (`Uri.query`, already decoded once). */
export function codeFromLinkQuery(query: string): string | undefined {
  const code = new URLSearchParams(query).get('code');
  return code ? code.trim() : undefined;
}
