/**
 * Parses Docker's multiplexed attach stream (used when a container or exec has no TTY):
 * frames of an 8-byte header [stream type, 0, 0, 0, payload size as big-endian uint32] and
 * the payload. Hand-written because dockerode's `demuxStream` copies every frame through two
 * extra streams and is slower than the docker CLI; this hands out slices of the input chunks.
 */
export type StreamType = 'stdout' | 'stderr';

const HEADER_BYTES = 8;

export class FrameParser {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFilled = 0;
  private remaining = 0;
  private current: StreamType = 'stdout';

  constructor(private readonly onPayload: (stream: StreamType, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(HEADER_BYTES - this.headerFilled, chunk.length - offset);
        chunk.copy(this.header, this.headerFilled, offset, offset + take);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled < HEADER_BYTES) return;
        this.headerFilled = 0;
        // Type 2 is stderr; 0 (stdin echo) and 1 are treated as stdout.
        this.current = this.header[0] === 2 ? 'stderr' : 'stdout';
        this.remaining = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - offset);
      this.onPayload(this.current, chunk.subarray(offset, offset + take));
      this.remaining -= take;
      offset += take;
    }
  }
}
