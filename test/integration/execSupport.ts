/**
 * What the exec suites (persistent shell, streaming, cancellation, raw channels) share: bounds,
 * routing a client's exec/output notifications, looking into a session's container (which
 * processes run, whether a writer is held back) and at the sidecar's memory.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { exec, P, waitFor, type SidecarClient, type SidecarHarness } from './harness';

export const MiB = 1024 * 1024;
/** How much the sidecar's resident memory may grow while it moves a large output. */
export const MEMORY_BOUND_MB = 64;
/** Commands that wait for the test carry this timeout, so a failing test cannot block the shell for good. */
export const SAFETY_TIMEOUT_MS = 60_000;

export const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** The sidecar's resident set size in MB, from /proc. */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/** Samples the sidecar's RSS in the background and keeps the highest value seen. */
export function rssPeak(pid: number) {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // the sidecar is gone: the test fails on its own, the sampler just stops contributing
    }
  }, 100);
  timer.unref();
  return { get peak() { return Math.max(peak, rssMb(pid)); }, stop: () => clearInterval(timer) };
}

/** exec/output notifications of one client, dispatched by streamId (a client has one handler per method). */
export function outputRouter(client: SidecarClient) {
  const listeners = new Map<string, (params: P.ExecOutputParams) => void>();
  client.onNotification(P.ExecOutputNotification.type, (params) => listeners.get(params.streamId)?.(params));
  return {
    listen: (streamId: string, listener: (params: P.ExecOutputParams) => void) => listeners.set(streamId, listener),
    /** Collects a stream's notifications in arrival order. */
    collect(streamId: string): P.ExecOutputParams[] {
      const received: P.ExecOutputParams[] = [];
      listeners.set(streamId, (params) => received.push(params));
      return received;
    },
  };
}

/** Runs a shell command line (pipes, `&&`, `cd`) in a session. */
export function execLine(client: SidecarClient, sessionId: string, line: string, extra: Partial<P.ExecParams> = {}): Promise<P.ExecResult> {
  return client.request(P.ExecRequest.type, { sessionId, line, ...extra });
}

export const joined = (chunks: P.ExecOutputParams[], stream: 'stdout' | 'stderr') => chunks.filter((c) => c.stream === stream).map((c) => c.data).join('');

/** Looks into the containers of `sidecar`'s sessions, always from a clean shell (it runs even while the persistent shell is busy). */
export function containerProbes(sidecar: SidecarHarness) {
  /** `ps` in the container. */
  async function processes(sessionId: string): Promise<string> {
    return (await exec(sidecar.client, sessionId, ['ps', '-o', 'pid,args'], { cleanShell: true })).stdout;
  }
  const waitUntilRunning = (sessionId: string, pattern: RegExp) =>
    waitFor(`${pattern} to run in the container`, async () => (pattern.test(await processes(sessionId)) ? true : undefined));
  const waitUntilGone = (sessionId: string, pattern: RegExp) =>
    waitFor(`${pattern} to be gone from the container`, async () => (pattern.test(await processes(sessionId)) ? undefined : true));

  /**
   * Waits until the process named `comm` stops making progress: its written-bytes counter
   * (/proc/PID/io wchar) stays the same between two looks. A writer nobody reads blocks there.
   * (busybox runs applets forked from sh without exec, so `ps` shows them as `{head} sh`.)
   */
  async function waitUntilHeldBack(sessionId: string, comm: string): Promise<number> {
    const script = `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = ${comm} ] && echo "$p $(grep wchar $p/io)"; done`;
    let last: string | undefined;
    return waitFor(`${comm} to be held back by back-pressure`, async () => {
      const sample = (await exec(sidecar.client, sessionId, ['sh', '-c', script], { cleanShell: true })).stdout.trim();
      assert.match(sample, /^\/proc\/\d+ wchar: \d+$/, `one ${comm} runs`);
      const same = sample === last;
      last = sample;
      return same ? Number(sample.split(' ').pop()) : undefined;
    });
  }

  return { processes, waitUntilRunning, waitUntilGone, waitUntilHeldBack };
}
