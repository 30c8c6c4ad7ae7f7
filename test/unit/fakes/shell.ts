import { Duplex } from 'node:stream';
import { SHELL_SETUP } from '../../../sidecar/exec/shellText';
import type { FakeEngine } from './engine';

/** What a scripted command prints and how it ends. Output given as a list goes out as one frame per item. */
export interface ScriptedOutput {
  stdout?: Output;
  stderr?: Output;
  exitCode?: number;
  /** Never finishes by itself: only a kill script sent through `runOnce` ends it (TERM: 143, KILL: 137). */
  hang?: boolean;
  /** The shell itself exits (like `exit 3`): an exec'd shell's stream ends, the main shell reports it with "E". */
  endsShell?: boolean;
}
export type Output = string | Buffer | Array<string | Buffer>;

/** A command as CommandShell wrote it, taken apart. */
export interface WrittenCommand {
  nonce: string;
  /** The shell command line, for `{ line }` commands. */
  line?: string;
  /** The words, for `{ argv }` commands. */
  argv?: string[];
  /** Where stdout was redirected (a direct pipe), if anywhere. */
  stdoutFile?: string;
}

export type ShellScript = (commandText: string, command: WrittenCommand) => ScriptedOutput | undefined;

export const STDOUT = 1;
export const STDERR = 2;
/** CommandShell ends every command's text with this (see commandText in commandShell.ts). */
const MARKERS_LINE_END = '"$__sk_rc" >&8\n';
const HANDSHAKE = 'echo $$\n';

/** One frame of Docker's multiplexed stream: [type, 0, 0, 0, size as uint32BE] and the payload. */
export function frame(type: typeof STDOUT | typeof STDERR, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** The part of a container a shell looks at. */
export interface ShellHost {
  running: boolean;
}

/**
 * A `sh` reading commands from stdin, as CommandShell sees it through Docker's attach or exec
 * stream: answers `echo $$` with its PID and each command text with the scripted output
 * followed by CommandShell's end markers, one command at a time. A main shell (the
 * container's PID 1 script) says nothing until its container runs, and when it exits it
 * prints the end markers with "E" and then stays silent, as MAIN_PROCESS_SCRIPT does.
 */
export class FakeShell extends Duplex {
  /** Every command text written to it, in order. */
  readonly commands: string[] = [];
  /** The exit code once the shell ended (the exec's exit code). */
  exitCode: number | undefined;
  private input = Buffer.alloc(0);
  private busy: { command: WrittenCommand; finish(exitCode: number): void } | undefined;
  /** The death-marker secret the sidecar gave the main process. */
  private secret = '';
  private done = false;

  constructor(
    private readonly engine: Pick<FakeEngine, 'script'>,
    private readonly container: ShellHost,
    readonly origin: 'main' | 'exec',
    readonly pid: number,
    private readonly framed: boolean,
  ) {
    super();
  }

  get alive(): boolean {
    return !this.done;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.done) {
      this.input = Buffer.concat([this.input, chunk]);
      queueMicrotask(() => this.process());
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    // stdin closed: sh reads end-of-file and exits.
    this.exit(0);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.done = true;
    callback(error);
  }

  containerStarted(): void {
    queueMicrotask(() => this.process());
  }

  /** The shell's process was killed; a main shell's PID 1 lives on and reports it. */
  killed(exitCode: number): void {
    if (this.done) return;
    if (this.origin === 'main') this.reportMainShellEnd(exitCode);
    else this.exit(exitCode);
  }

  /** Its container stopped or went away: the stream ends. */
  containerGone(): void {
    this.exit(137);
  }

  /** The command running now (one that hangs), as written. */
  get running(): WrittenCommand | undefined {
    return this.busy?.command;
  }

  /** Output of the running command, sent now: for a hanging command that prints as it goes. */
  print(stream: 'stdout' | 'stderr', data: Buffer | string): void {
    this.send(stream === 'stdout' ? STDOUT : STDERR, data);
  }

  /** Ends the running command (one that hangs) with `exitCode`, as a kill script or the command itself would. */
  finish(exitCode = 0): void {
    this.busy?.finish(exitCode);
  }

  private process(): void {
    if (this.done || this.busy) return;
    if (this.origin === 'main' && !this.container.running) return;
    for (;;) {
      const text = this.input.toString('latin1');
      // The main process's secret line, then the shell's set-up, then the PID question.
      if (this.origin === 'main' && text.startsWith('#') && text.includes('\n')) {
        this.secret = text.slice(1, text.indexOf('\n'));
        this.input = this.input.subarray(text.indexOf('\n') + 1);
        continue;
      }
      if (text.startsWith(SHELL_SETUP)) {
        this.input = this.input.subarray(SHELL_SETUP.length);
        continue;
      }
      if (text.startsWith(HANDSHAKE)) {
        this.input = this.input.subarray(HANDSHAKE.length);
        this.send(STDOUT, `${this.pid}\n`);
        continue;
      }
      const end = text.indexOf(MARKERS_LINE_END);
      if (end < 0) return;
      const length = end + MARKERS_LINE_END.length;
      const commandText = this.input.subarray(0, length).toString('utf8');
      this.input = this.input.subarray(length);
      this.run(commandText);
      if (this.busy || this.done) return;
    }
  }

  private run(commandText: string): void {
    this.commands.push(commandText);
    const command = parseCommandText(commandText);
    const scripted = this.engine.script(commandText, command) ?? {};
    for (const chunk of chunks(scripted.stdout)) this.send(STDOUT, chunk);
    for (const chunk of chunks(scripted.stderr)) this.send(STDERR, chunk);
    const finish = (exitCode: number) => {
      this.busy = undefined;
      this.sendMarkers(command.nonce, String(exitCode));
      queueMicrotask(() => this.process());
    };
    if (scripted.endsShell) {
      if (this.origin === 'main') this.reportMainShellEnd(scripted.exitCode ?? 0);
      else this.exit(scripted.exitCode ?? 0);
    } else if (scripted.hang) {
      this.busy = { command, finish };
    } else {
      finish(scripted.exitCode ?? 0);
    }
  }

  private sendMarkers(nonce: string, code: string): void {
    if (this.destroyed || this.exitCode !== undefined) return;
    this.push(Buffer.concat([frame(STDERR, `\x1eSK${nonce}/workspace\x1f`), frame(STDOUT, `\x1eSK${nonce}:${code}\x1f`)]));
  }

  /** MAIN_PROCESS_SCRIPT's epilogue: the death marker with the secret and the status, then silence. */
  private reportMainShellEnd(exitCode: number): void {
    this.busy = undefined;
    if (!this.destroyed) this.push(frame(STDOUT, `\x1eSK${this.secret}:E${exitCode}\x1f`));
    this.done = true;
  }

  private exit(exitCode: number): void {
    if (this.exitCode !== undefined) return;
    this.exitCode = exitCode;
    this.busy = undefined;
    this.done = true;
    if (!this.destroyed) this.push(null);
  }

  private send(type: typeof STDOUT | typeof STDERR, payload: Buffer | string): void {
    if (this.destroyed || this.exitCode !== undefined) return; // nothing comes out of a shell that ended
    this.push(this.framed ? frame(type, payload) : Buffer.from(payload));
  }
}

function chunks(output: Output | undefined): Array<Buffer | string> {
  if (output === undefined) return [];
  return Array.isArray(output) ? output : [output];
}

/** Takes apart what CommandShell wrote: its start line, `__sk_line='…'; __sk_run … [>file]`, then the markers line. */
export function parseCommandText(commandText: string): WrittenCommand {
  const nonce = /\\036SK([0-9a-f]+)%s\\037/.exec(commandText)?.[1];
  if (!nonce) throw new Error(`No marker nonce in the command text: ${JSON.stringify(commandText)}`);
  const afterStart = commandText.indexOf('\n') + 1;
  const beforeMarkers = commandText.lastIndexOf('\n', commandText.length - 2);
  const middle = commandText.slice(afterStart, beforeMarkers);
  // `__sk_line='…'` (a shellQuote'd word), then `__sk_run … [<stdin] [>file]`, perhaps in a subshell.
  const quoted = /__sk_line=((?:'[^']*'|\\')+)/.exec(middle)?.[1] ?? "''";
  const line = shellWords(quoted)[0]?.text ?? '';
  const invoke = middle.slice(middle.indexOf('__sk_run ')).replace(/ \)$/, '');
  const stdoutFile = shellWords(invoke).find((word) => word.redirect && word.text.startsWith('>'))?.text.slice(1);
  // An argv was written as quoted words; a command line as it is.
  if (line.startsWith("'")) return { nonce, argv: shellWords(line).map((word) => word.text), stdoutFile };
  return { nonce, line, stdoutFile };
}

/** Splits the words of a line made with shellQuote: single-quoted runs, `\'`, and bare redirections. */
function shellWords(source: string): Array<{ text: string; redirect: boolean }> {
  const words: Array<{ text: string; redirect: boolean }> = [];
  let current: { text: string; redirect: boolean } | undefined;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === ' ' || char === '\t') {
      if (current) words.push(current);
      current = undefined;
      continue;
    }
    current ??= { text: '', redirect: char === '<' || char === '>' };
    if (char === "'") {
      const close = source.indexOf("'", i + 1);
      current.text += source.slice(i + 1, close);
      i = close;
    } else if (char === '\\') {
      current.text += source[++i];
    } else {
      current.text += char;
    }
  }
  if (current) words.push(current);
  return words;
}
