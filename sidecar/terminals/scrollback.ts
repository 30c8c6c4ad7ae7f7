/** Output kept per live terminal for replay on reattach, in characters (about bytes for text). */
export const SCROLLBACK_CHARS = 256 * 1024;

/**
 * Queries a program sends to its terminal (cursor position, device attributes). Live, the
 * terminal answers them as input; replayed later, a second answer would land on the command
 * line as garbage, so a replay leaves them out.
 */
const TERMINAL_QUERIES = /\x1b\[[>=?]?[\d;]*[cn]/g;

/**
 * The most recent output of a terminal, bounded. Appends are cheap (a push); the text is only
 * joined when it grew to twice the limit, or when a client reattaches.
 */
export class Scrollback {
  private chunks: string[] = [];
  private size = 0;
  private trimmed = false;

  constructor(private readonly limit = SCROLLBACK_CHARS) {}

  append(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size > 2 * this.limit) this.compact();
  }

  /** What a reattaching client writes before live output. */
  replay(): string {
    this.compact();
    let text = this.chunks.join('');
    // A cut may fall inside a line or an escape sequence: start at the next line instead.
    if (this.trimmed) text = text.slice(text.indexOf('\n') + 1);
    return text.replace(TERMINAL_QUERIES, '');
  }

  private compact(): void {
    if (this.size <= this.limit && this.chunks.length <= 1) return;
    let text = this.chunks.join('');
    if (text.length > this.limit) {
      text = text.slice(-this.limit);
      this.trimmed = true;
    }
    this.chunks = [text];
    this.size = text.length;
  }
}
