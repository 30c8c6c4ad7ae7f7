import { Duplex } from 'node:stream';
import type { DockerStatus } from '../../../sidecar/client/protocol';
import {
  LABEL,
  type ContainerSpec,
  type ContainerState,
  type Engine,
  type ExecOptions,
  type ExecProcess,
  type Mount,
  type OwnContainer,
  type OwnVolume,
  type Role,
} from '../../../sidecar/docker/engine';
import { conflict, dockerUnavailableError, imageMissing, notFound } from '../../../sidecar/errors';

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

export interface FakeContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  mounts: Mount[];
  running: boolean;
  hasMainShell: boolean;
  network: string;
  /** As the sidecar asked for it; absent for containers a test put there. */
  spec?: ContainerSpec;
  /** Every shell opened in it (main and exec'd), alive or ended. */
  shells: Set<FakeShell>;
}

export interface EngineCall {
  method: keyof Engine;
  args: unknown[];
}

const STDOUT = 1;
const STDERR = 2;
/** CommandShell ends every command's text with this (see commandText in commandShell.ts). */
const MARKERS_LINE_END = '"$__sk_rc"\n';
const HANDSHAKE = 'echo $$\n';

/** One frame of Docker's multiplexed stream: [type, 0, 0, 0, size as uint32BE] and the payload. */
export function frame(type: typeof STDOUT | typeof STDERR, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/**
 * An in-memory Docker engine. Containers and volumes live in maps; every call is recorded
 * in `calls`; `failNext` makes a call throw, `hold` makes one wait until released, and
 * `vanish` removes a container behind the sidecar's back. The shells that `attach` and
 * `exec` hand out speak Docker's framed stream and answer CommandShell's protocol, with
 * output from `script`.
 */
export class FakeEngine implements Engine {
  readonly instanceId: string;
  readonly isLocal = false;
  readonly containers = new Map<string, FakeContainer>();
  readonly volumes = new Map<string, OwnVolume>();
  /** Images that are local; `ensureImage` pulls any other unless it is unpullable. */
  readonly images = new Set<string>();
  readonly unpullable = new Set<string>();
  readonly calls: EngineCall[] = [];
  /** The scripts `runOnce` was asked to run (the text after `sh -c`). */
  readonly runOnceScripts: string[] = [];
  available = true;
  /** Signals a hanging command shrugs off (it still ends on a kill of its shell). */
  readonly hangIgnores = new Set<'TERM' | 'KILL'>();
  script: ShellScript = () => ({});

  private readonly failures = new Map<keyof Engine, Error[]>();
  private readonly holds = new Map<keyof Engine, Array<Promise<void>>>();
  private nextId = 1;
  private nextPid = 42;

  constructor(options: { instanceId?: string; images?: string[] } = {}) {
    this.instanceId = options.instanceId ?? 'fakeinstance';
    for (const image of options.images ?? ['debian:bookworm-slim']) this.images.add(image);
  }

  // ----- knobs and views for tests -----

  /** The next `times` calls of `method` throw `error` (after being recorded). */
  failNext(method: keyof Engine, error: Error, times = 1): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(method, queue);
  }

  /** The next call of `method` waits (after being recorded) until `release()` is called. */
  hold(method: keyof Engine): { release(): void } {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = this.holds.get(method) ?? [];
    queue.push(gate);
    this.holds.set(method, queue);
    return { release };
  }

  callsTo(method: keyof Engine): unknown[][] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  /** Removes the container as if someone ran `docker rm -f` outside the sidecar. */
  vanish(id: string): void {
    const container = this.requireContainer(id);
    this.endShells(container);
    this.containers.delete(id);
  }

  /** A container of this instance that the sidecar did not create in this test (e.g. a crash's leftover). */
  addContainer(options: { name: string; role: Role; running?: boolean; image?: string; mounts?: Mount[]; labels?: Record<string, string>; hasMainShell?: boolean }): string {
    const id = this.newContainerId();
    this.containers.set(id, {
      id,
      name: options.name,
      image: options.image ?? 'debian:bookworm-slim',
      labels: { ...this.ownLabels(options.role), ...options.labels },
      mounts: options.mounts ?? [],
      running: options.running ?? true,
      hasMainShell: options.hasMainShell ?? true,
      network: 'bridge',
      shells: new Set(),
    });
    return id;
  }

  addVolume(name: string, owner: { role: Role; workspaceId?: string }): void {
    this.volumes.set(name, { name, labels: this.ownLabels(owner.role, owner.workspaceId) });
  }

  containersWithRole(role: Role): FakeContainer[] {
    return [...this.containers.values()].filter((container) => container.labels[LABEL.role] === role);
  }

  volumesWithRole(role: Role): string[] {
    return [...this.volumes.values()].filter((volume) => volume.labels[LABEL.role] === role).map((volume) => volume.name);
  }

  /** Every shell ever opened in the container (main and exec'd), alive or not. */
  shellsOf(id: string): FakeShell[] {
    return [...(this.containers.get(id)?.shells ?? [])];
  }

  // ----- Engine -----

  async status(): Promise<DockerStatus> {
    await this.enter('status', []);
    return this.available ? { available: true, version: 'fake', endpoint: 'fake://engine' } : { available: false, endpoint: 'fake://engine', error: 'The fake engine is off.' };
  }

  async requireAvailable(): Promise<void> {
    await this.enter('requireAvailable', []);
    this.checkAvailable();
  }

  async ensureImage(image: string, onProgress?: (message: string) => void): Promise<void> {
    await this.enter('ensureImage', [image]);
    this.checkAvailable();
    if (this.images.has(image)) return;
    if (this.unpullable.has(image)) throw imageMissing(`The image "${image}" is not local and cannot be pulled.`);
    onProgress?.(`Pulling ${image}`);
    this.images.add(image);
  }

  async createVolume(name: string, owner: { role: Role; workspaceId?: string }): Promise<void> {
    await this.enter('createVolume', [name, owner]);
    this.checkAvailable();
    this.addVolume(name, owner);
  }

  async removeVolume(name: string): Promise<void> {
    await this.enter('removeVolume', [name]);
    this.checkAvailable();
    // As Docker does: a volume a container still mounts cannot be removed.
    const user = [...this.containers.values()].find((container) => container.mounts.some((mount) => mount.type === 'volume' && mount.source === name));
    if (user) throw conflict(`The volume ${name} is in use by container ${user.id}.`);
    this.volumes.delete(name);
  }

  async listOwnVolumes(): Promise<OwnVolume[]> {
    await this.enter('listOwnVolumes', []);
    this.checkAvailable();
    return [...this.volumes.values()].filter((volume) => volume.labels[LABEL.instance] === this.instanceId).map((volume) => ({ ...volume, labels: { ...volume.labels } }));
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    await this.enter('createContainer', [spec]);
    this.checkAvailable();
    if (!this.images.has(spec.image)) throw imageMissing(`The image "${spec.image}" is not local.`);
    if (this.findByName(spec.name)) throw conflict(`The container name "${spec.name}" is already in use.`);
    for (const mount of spec.mounts) {
      // Docker makes a named volume that does not exist yet, without labels.
      if (mount.type === 'volume' && !this.volumes.has(mount.source)) this.volumes.set(mount.source, { name: mount.source, labels: {} });
    }
    const id = this.newContainerId();
    this.containers.set(id, {
      id,
      name: spec.name,
      image: spec.image,
      labels: {
        ...this.ownLabels(spec.role, spec.workspaceId),
        ...(spec.sessionId ? { [LABEL.session]: spec.sessionId } : {}),
      },
      mounts: spec.mounts.map((mount) => ({ ...mount })),
      running: false,
      hasMainShell: true,
      network: spec.network,
      spec,
      shells: new Set(),
    });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    await this.enter('startContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.running = true;
    for (const shell of container.shells) shell.containerStarted();
  }

  async stopContainer(id: string): Promise<void> {
    await this.enter('stopContainer', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    container.running = false;
    this.endShells(container);
  }

  async removeContainer(id: string): Promise<void> {
    await this.enter('removeContainer', [id]);
    this.checkAvailable();
    const container = this.containers.get(id);
    if (!container) return;
    this.endShells(container);
    this.containers.delete(id);
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.enter('renameContainer', [id, name]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    const holder = this.findByName(name);
    if (holder && holder !== container) throw conflict(`The container name "${name}" is already in use.`);
    container.name = name;
  }

  async disconnectNetwork(id: string, network: string): Promise<void> {
    await this.enter('disconnectNetwork', [id, network]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (container.network === network) container.network = 'none';
  }

  async inspectContainer(id: string): Promise<ContainerState | undefined> {
    await this.enter('inspectContainer', [id]);
    this.checkAvailable();
    const container = this.containers.get(id);
    if (!container) return undefined;
    return { running: container.running, hasMainShell: container.hasMainShell, mounts: container.mounts.map(({ source, target }) => ({ source, target })) };
  }

  async listOwnContainers(role?: Role): Promise<OwnContainer[]> {
    await this.enter('listOwnContainers', [role]);
    this.checkAvailable();
    return [...this.containers.values()]
      .filter((container) => container.labels[LABEL.instance] === this.instanceId && (role === undefined || container.labels[LABEL.role] === role))
      .map((container) => ({
        id: container.id,
        name: container.name,
        running: container.running,
        labels: { ...container.labels },
        mounts: container.mounts.map(({ source, target }) => ({ source, target })),
      }));
  }

  async attach(id: string): Promise<Duplex> {
    await this.enter('attach', [id]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    const shell = new FakeShell(this, container, 'main', this.nextPid++, true);
    container.shells.add(shell);
    return shell;
  }

  async exec(id: string, options: ExecOptions): Promise<ExecProcess> {
    await this.enter('exec', [id, options]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (!container.running) throw conflict(`Container ${id} is not running.`);
    const shell = new FakeShell(this, container, 'exec', this.nextPid++, !options.tty);
    container.shells.add(shell);
    return {
      stream: shell,
      resize: async () => undefined,
      exitCode: async () => shell.exitCode,
    };
  }

  async runOnce(id: string, command: string[]): Promise<string> {
    await this.enter('runOnce', [id, command]);
    this.checkAvailable();
    const container = this.requireContainer(id);
    if (!container.running) throw conflict(`Container ${id} is not running.`);
    const script = command[0] === 'sh' && command[1] === '-c' ? command[2] : command.join(' ');
    this.runOnceScripts.push(script);
    for (const shell of container.shells) {
      if (!shell.alive) continue;
      if (new RegExp(`^kill -KILL ${shell.pid}$`).test(script.trim())) shell.killed(137);
      else if (script.includes(`P=${shell.pid};`)) {
        const signal = script.includes('kill -KILL') ? 'KILL' : script.includes('kill -TERM') ? 'TERM' : undefined;
        if (signal && !this.hangIgnores.has(signal)) shell.finish(signal === 'TERM' ? 143 : 137);
      }
    }
    return '';
  }

  // ----- inside -----

  private async enter(method: keyof Engine, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    const gate = this.holds.get(method)?.shift();
    if (gate) await gate;
    const failure = this.failures.get(method)?.shift();
    if (failure) throw failure;
  }

  private checkAvailable(): void {
    if (!this.available) throw dockerUnavailableError('The fake engine is off. Start the Docker engine or check DOCKER_HOST, then retry.');
  }

  private requireContainer(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (!container) throw notFound(`No such container: ${id}`);
    return container;
  }

  private findByName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((container) => container.name === name);
  }

  private endShells(container: FakeContainer): void {
    for (const shell of container.shells) shell.containerGone();
  }

  private newContainerId(): string {
    return (this.nextId++).toString(16).padStart(12, '0').padEnd(64, 'f');
  }

  private ownLabels(role: Role, workspaceId?: string): Record<string, string> {
    return {
      [LABEL.managed]: 'true',
      [LABEL.instance]: this.instanceId,
      [LABEL.role]: role,
      ...(workspaceId ? { [LABEL.workspace]: workspaceId } : {}),
    };
  }
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
  private lastNonce = '';
  private done = false;

  constructor(
    private readonly engine: FakeEngine,
    private readonly container: FakeContainer,
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
    this.lastNonce = command.nonce;
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
    this.push(Buffer.concat([frame(STDERR, `\x1eSK${nonce}\x1f`), frame(STDOUT, `\x1eSK${nonce}:${code}\x1f`)]));
  }

  /** MAIN_PROCESS_SCRIPT's epilogue: the last command's markers with E and the status, then silence. */
  private reportMainShellEnd(exitCode: number): void {
    this.busy = undefined;
    this.sendMarkers(this.lastNonce, `E${exitCode}`);
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

/** Takes apart what CommandShell wrote: its start line, the command, then the markers line. */
export function parseCommandText(commandText: string): WrittenCommand {
  const nonce = /\\036SK([0-9a-f]+)\\037/.exec(commandText)?.[1];
  if (!nonce) throw new Error(`No marker nonce in the command text: ${JSON.stringify(commandText)}`);
  const afterStart = commandText.indexOf('\n') + 1;
  const beforeMarkers = commandText.lastIndexOf('\n', commandText.length - 2);
  const words = shellWords(commandText.slice(afterStart, beforeMarkers));
  const redirectAt = words.findIndex((word) => word.redirect);
  const plain = words.slice(0, redirectAt < 0 ? words.length : redirectAt).map((word) => word.text);
  const stdoutFile = words.find((word) => word.redirect && word.text.startsWith('>'))?.text.slice(1);
  if (plain[0] === 'command' && plain[1] === 'eval' && plain.length === 3) return { nonce, line: plain[2], stdoutFile };
  return { nonce, argv: plain, stdoutFile };
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
