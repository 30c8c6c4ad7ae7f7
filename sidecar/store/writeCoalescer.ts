/**
 * Lets concurrent changes share one durable write, and never runs two writes at once. `flush()`
 * resolves once a write that *started after the call* has finished, so the caller's change is
 * certainly on disk. While a write runs, every new caller joins the single next write.
 */
export class WriteCoalescer {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly writeSnapshot: () => Promise<void>) {}

  flush(): Promise<void> {
    // Also between the end of a write and the start of the queued one, when `running` is
    // already cleared: starting another write then would run two at once.
    if (this.next) return this.next;
    if (!this.running) return this.startWrite();
    this.next = this.running
      .catch(() => undefined) // the previous write's failure belongs to its own callers
      .then(() => {
        this.next = undefined;
        return this.startWrite();
      });
    return this.next;
  }

  private startWrite(): Promise<void> {
    const write = this.writeSnapshot().finally(() => {
      if (this.running === write) this.running = undefined;
    });
    this.running = write;
    return write;
  }
}
