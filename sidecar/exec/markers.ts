/**
 * Finds the end-of-command marker the persistent shell prints after each command, in a
 * stream of output chunks, without ever passing marker bytes on as output. A chunk's tail
 * that may be the start of a marker is held back until the next chunk shows what it is.
 * Chunks are passed on as slices, not copies: this sits on the path of every output byte.
 */
export class MarkerScanner {
  private held: Buffer = Buffer.alloc(0);
  private readonly holdBack: number;

  /**
   * @param prefix bytes that start the marker
   * @param maxTail how many bytes may follow the prefix up to and including the terminator
   */
  constructor(
    private readonly prefix: Buffer,
    private readonly terminator: number,
    maxTail: number,
    private readonly emit: (data: Buffer) => void,
  ) {
    this.holdBack = prefix.length + maxTail;
  }

  /** Returns the bytes between prefix and terminator once the marker is complete. */
  push(chunk: Buffer): string | undefined {
    if (this.held.length === 0) return this.scan(chunk);
    const held = this.held;
    this.held = Buffer.alloc(0);
    const joinLength = Math.min(chunk.length, this.holdBack);
    const joined = Buffer.concat([held, chunk.subarray(0, joinLength)]);
    if (joinLength === chunk.length) return this.scan(joined);
    // A marker that starts in the held bytes is complete within `joined`; if there is none,
    // the held bytes are plain output and the chunk is scanned on its own, uncopied.
    const at = joined.indexOf(this.prefix);
    if (at >= 0 && at < held.length) return this.scan(Buffer.concat([joined, chunk.subarray(joinLength)]));
    this.emit(held);
    return this.scan(chunk);
  }

  private scan(data: Buffer): string | undefined {
    for (let from = 0; ; ) {
      const at = data.indexOf(this.prefix, from);
      if (at < 0) break;
      const end = data.indexOf(this.terminator, at + this.prefix.length);
      if (end >= 0 && end - at < this.holdBack) {
        if (at > 0) this.emit(data.subarray(0, at));
        return data.subarray(at + this.prefix.length, end).toString('latin1');
      }
      if (end < 0 && data.length - at < this.holdBack) {
        if (at > 0) this.emit(data.subarray(0, at));
        this.held = Buffer.from(data.subarray(at));
        return undefined;
      }
      // More than maxTail bytes follow the prefix: not a marker, plain output (nothing is held
      // without bound, whatever a command prints after a prefix).
      from = at + 1;
    }
    // Only a tail that could still become the prefix is held back, so a short line
    // ("started\n") goes out at once, and so does another marker (e.g. the main shell's
    // death marker, which a scanner behind this one looks for).
    const safe = this.partialPrefixStart(data);
    if (safe > 0) this.emit(data.subarray(0, safe));
    this.held = Buffer.from(data.subarray(safe));
    return undefined;
  }

  /** Where a tail of `data` that is the beginning of the prefix starts; data.length when none is. */
  private partialPrefixStart(data: Buffer): number {
    const first = this.prefix[0];
    for (let at = data.indexOf(first, Math.max(0, data.length - this.prefix.length + 1)); at >= 0; at = data.indexOf(first, at + 1)) {
      if (this.prefix.subarray(0, data.length - at).equals(data.subarray(at))) return at;
    }
    return data.length;
  }

  /** The held-back bytes, when the stream ends without a marker. */
  flush(): void {
    if (this.held.length > 0) this.emit(this.held);
    this.held = Buffer.alloc(0);
  }
}
