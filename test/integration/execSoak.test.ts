/**
 * A randomized soak of one session (issue 11): 200 seeded steps that mix output checks,
 * shell-state changes, background jobs, parallel execs (side by side and queued), cancels,
 * timeouts, clients that go away mid-command and commands that end the shell. The shell's
 * state (cwd, variables, options, aliases, functions, umask, where stderr goes) is tracked
 * by a model and compared with what the shell says every 20 steps. Afterwards `echo ok`
 * answers, no process of a stopped command is left in the container, and the sidecar's RSS
 * is back within MEMORY_BOUND_MB of where it started.
 *
 * The seed is in the suite's name; `SOAK_SEED=N` replays a run (timing can still differ:
 * which parallel command runs side by side, or when a cancel lands).
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { CancellationTokenSource } from '../../sidecar/client/sidecarClient';
import { containerProbes, MEMORY_BOUND_MB, outputRouter, rssMb } from './execSupport';
import { P, ResponseError, sleep, useSidecar, waitFor } from './harness';

const STEPS = 200;
/** The state is compared with the model after every this many steps. */
const CHECK_EVERY = 20;
const SEED = seedFromEnvironment();
/** Every command the soak waits for carries this timeout, and the test waits at most REQUEST_BOUND_MS for any answer. */
const COMMAND_TIMEOUT_MS = 20_000;
const REQUEST_BOUND_MS = 30_000;
/** How long a stopped command's processes may take to disappear from `ps`. */
const GONE_BOUND_MS = 10_000;
/** Exit statuses of a command stopped by INT, TERM or KILL. */
const STOP_STATUSES = [130, 143, 137];
/** Long sleeps are `sleep 3NNN` (NNN the step), so `ps` finds any left behind. */
const LONG_SLEEP = /\bsleep 3\d{3}\b/;
const SOAK_DIR = '/tmp/soak';

function seedFromEnvironment(): number {
  const text = process.env.SOAK_SEED;
  if (text === undefined || text === '') return Math.floor(Math.random() * 2 ** 32);
  const seed = Number(text);
  assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `SOAK_SEED must be an integer in [0, 2^32), not ${text}`);
  return seed;
}

/** mulberry32: a small, fast, seedable PRNG; plenty for choosing steps. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  weighted<T extends string>(weights: Record<T, number>): T {
    const entries = Object.entries(weights) as Array<[T, number]>;
    let roll = this.next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
    for (const [name, weight] of entries) if ((roll -= weight) < 0) return name;
    return entries[entries.length - 1][0];
  }
  /** Letters and digits only: never mistaken for a trace line, a background job's tag or a marker. */
  word(length: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let word = '';
    for (let i = 0; i < length; i++) word += alphabet[Math.floor(this.next() * alphabet.length)];
    return word;
  }
  /** A variable's value: printable ASCII with the characters quoting gets wrong. */
  value(): string {
    const alphabet = "abcXYZ019 _-'\"$`\\*?;&|<>(){}[]#~=%!";
    let value = '';
    for (let i = this.int(0, 24); i > 0; i--) value += alphabet[Math.floor(this.next() * alphabet.length)];
    return value;
  }
}

/** Quotes one word for a POSIX shell. */
const q = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** What the session's shell should be like, from the commands the soak sent it. */
class ShellModel {
  cwd = '/workspace';
  readonly vars = new Map<string, { value: string; exported: boolean }>();
  xtrace = false;
  noclobber = false;
  nounset = false;
  readonly aliases = new Map<string, string>();
  readonly functions = new Map<string, string>();
  /** stderr goes to stdout (`exec 2>&1`). */
  stderrMerged = false;
  /** fd 7 holds a copy of an earlier stderr (`exec 7>&2 2>&1`): whether that one was merged. */
  savedStderr: boolean | undefined;
  exitTrap: string | undefined;
  constructor(public umask: string) {}
}

type Stream = 'stdout' | 'stderr';
interface Write {
  stream: Stream;
  text: string;
}
interface Output {
  result: P.ExecResult;
  /** Text (utf8), or each byte as one latin1 character (base64). */
  stdout: string;
  stderr: string;
}

/** Background jobs say `bg-N`; their output lands in whatever command runs then. */
const stripBackground = (text: string) => text.replace(/bg-\d+\n/g, '');
/** Lines `set -x` adds (`+ command`); a line about the wrapper (`__sk…`) is not one of them and stays, to fail. */
const stripTrace = (text: string) =>
  text
    .split(/(?<=\n)/)
    .filter((line) => !(/^\++ /.test(line) && !line.includes('__sk')))
    .join('');
const show = (text: string) => JSON.stringify(text.length > 300 ? `${text.slice(0, 150)}…(${text.length} chars)…${text.slice(-150)}` : text);

describe(`a randomized soak of one session (seed ${SEED}; replay with SOAK_SEED=${SEED})`, () => {
  const sidecar = useSidecar();
  const { processes } = containerProbes(sidecar);

  it(`stays correct through ${STEPS} random steps, then answers, leaves no stopped command running and gives its memory back (seed ${SEED})`, { timeout: 240_000 }, async (t: TestContext) => {
    const rng = new Random(SEED);
    const started = Date.now();
    t.diagnostic(`seed ${SEED} (replay: SOAK_SEED=${SEED})`);
    const session = await sidecar.newSession('soak');
    const sessionId = session.id;
    const router = outputRouter(sidecar.client);
    const log: string[] = [];
    const counts = new Map<string, number>();
    const notes: string[] = [];
    let streams = 0;
    /** Background jobs that print may still be running until then: no multibyte text that one could split. */
    let backgroundOutputUntil = 0;

    const bounded = <T>(promise: Promise<T>, what: string, ms = REQUEST_BOUND_MS): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
      return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
    };

    /** Runs a command line through the main client, captured or streamed, and returns its output decoded. */
    async function run(
      line: string,
      options: { extra?: Partial<P.ExecParams>; streamed?: boolean; base64?: boolean; cancellation?: CancellationTokenSource } = {},
    ): Promise<Output> {
      const encoding = options.base64 ? ('base64' as const) : undefined;
      const streamId = options.streamed ? `soak-${++streams}` : undefined;
      const chunks = streamId ? router.collect(streamId) : [];
      const request = sidecar.client.request(
        P.ExecRequest.type,
        { sessionId, line, timeoutMs: COMMAND_TIMEOUT_MS, encoding, streamId, ...options.extra },
        options.cancellation,
      );
      const result = await bounded(request, `\`${line.slice(0, 80)}\``);
      const decode = (data: string) => (encoding ? Buffer.from(data, 'base64').toString('latin1') : data);
      const text = (stream: Stream) =>
        streamId
          ? chunks
              .filter((c) => c.stream === stream)
              .map((c) => decode(c.data))
              .join('')
          : decode(result[stream]);
      if (streamId) assert.equal(result.stdout + result.stderr, '', 'streamed output is not also in the result');
      assert.equal(result.droppedBytes, 0, 'no output dropped');
      return { result, stdout: text('stdout'), stderr: text('stderr') };
    }

    /** Output of a command that ran in the session's shell (sideBySide false) or in a side shell. */
    function normalize(output: Output, traced: boolean): { stdout: string; stderr: string } {
      const clean = (text: string) => (traced && !output.result.sideBySide ? stripTrace(stripBackground(text)) : stripBackground(text));
      return { stdout: clean(output.stdout), stderr: clean(output.stderr) };
    }

    /** Asserts the output of `writes` (in order), as the shell that ran them sends it. */
    function assertWrites(output: Output, writes: Write[], model: ShellModel, exitCode: number, what: string): void {
      const sideBySide = output.result.sideBySide === true;
      const merged = model.stderrMerged && !sideBySide;
      const { stdout, stderr } = normalize(output, model.xtrace);
      const expected = {
        stdout: writes
          .filter((w) => merged || w.stream === 'stdout')
          .map((w) => w.text)
          .join(''),
        stderr: merged ? '' : writes.filter((w) => w.stream === 'stderr').map((w) => w.text).join(''),
      };
      const where = `${what} (${sideBySide ? 'side by side' : 'session shell'}${merged ? ', stderr merged' : ''}${model.xtrace && !sideBySide ? ', traced' : ''})`;
      assert.ok(stdout === expected.stdout, `${where}: stdout ${show(stdout)}, expected ${show(expected.stdout)} (stderr ${show(stderr)})`);
      assert.ok(stderr === expected.stderr, `${where}: stderr ${show(stderr)}, expected ${show(expected.stderr)}`);
      assert.equal(output.result.exitCode, exitCode, `${where}: exit code`);
      assert.equal(output.result.shellReset, false, `${where}: the shell stayed`);
    }

    function assertNoWrapper(output: Output, what: string): void {
      for (const stream of ['stdout', 'stderr'] as const) {
        assert.doesNotMatch(output[stream], /__sk|\x1eSK/, `${what}: nothing of the wrapper or its markers in ${stream}: ${show(output[stream])}`);
      }
    }

    async function waitUntilGone(pattern: RegExp, what: string): Promise<void> {
      let last = '';
      await waitFor(
        `${what}: ${pattern} to be gone`,
        async () => {
          last = await processes(sessionId);
          return pattern.test(last) ? undefined : true;
        },
        GONE_BOUND_MS,
      ).catch((error: Error) => assert.fail(`${error.message}; ps says:\n${last}`));
    }

    // --- the model, and commands made from it ----------------------------------------------

    const initial = await run('pwd; umask');
    const [initialCwd, initialUmask] = initial.stdout.trimEnd().split('\n');
    assert.equal(initialCwd, '/workspace', 'the session starts in /workspace');
    assert.match(initialUmask, /^0[0-7]{3}$/, 'umask prints four octal digits');
    let model = new ShellModel(initialUmask);
    const everVars = new Set<string>();
    const goneAliases = new Set<string>();
    const goneFunctions = new Set<string>();
    /** A new shell: the model starts afresh. An unexpected reset (a stopped command the shell would not obey) is noted. */
    const reset = (why: string, expected = false) => {
      if (!expected) notes.push(`step ${step}: the shell was reset (${why})`);
      model = new ShellModel(initialUmask);
    };
    let step = 0;

    /** printf/echo for each write; a write without a newline only where no trace line can follow it. */
    function textWrites(count: number): Write[] {
      return Array.from({ length: count }, () => {
        const length = rng.chance(0.1) ? rng.int(1000, 6000) : rng.int(1, 60);
        const newline = model.xtrace || rng.chance(0.7);
        return { stream: rng.chance(0.35) ? 'stderr' : 'stdout', text: rng.word(length) + (newline ? '\n' : '') };
      });
    }
    const writeCommand = (w: Write) => {
      const word = w.text.replace(/\n$/, '');
      const body = w.text.endsWith('\n') ? (rng.chance(0.5) ? `echo ${q(word)}` : `printf '%s\\n' ${q(word)}`) : `printf %s ${q(word)}`;
      return w.stream === 'stderr' ? `${body} >&2` : body;
    };

    /** The state the check command prints, in its order. */
    function checkCommand(names: string[]): string {
      const vars = names.map((name) => `printf '%s\\n' "${name}=\${${name}-<unset>}"`).join('; ');
      // The members of a pipeline trace concurrently, in pieces (see bulkStep): not traced at all.
      return `pwd; umask; printf 'flags=%s\\n' "$-"; ${vars ? `${vars}; ` : ''}{ env | grep '^SK_' | sort; } 2>/dev/null; echo end`;
    }
    async function checkState(why: string): Promise<void> {
      const names = [...everVars].sort();
      const output = await run(checkCommand(names));
      assertNoWrapper(output, why);
      const { stdout, stderr } = normalize(output, model.xtrace);
      const lines = stdout.split('\n');
      const context = `${why}: the state the shell reports (${show(stdout)}; stderr ${show(stderr)})`;
      assert.equal(output.result.exitCode, 0, context);
      assert.equal(lines[0], model.cwd, `${context}: cwd`);
      assert.equal(lines[1], model.umask, `${context}: umask`);
      const flags = lines[2]?.replace(/^flags=/, '') ?? '';
      assert.deepEqual(
        { xtrace: flags.includes('x'), noclobber: flags.includes('C'), nounset: flags.includes('u') },
        { xtrace: model.xtrace, noclobber: model.noclobber, nounset: model.nounset },
        `${context}: options ($- is ${flags})`,
      );
      const expectedVars = names.map((name) => `${name}=${model.vars.get(name)?.value ?? '<unset>'}`);
      assert.deepEqual(lines.slice(3, 3 + names.length), expectedVars, `${context}: variables`);
      const exported = [...model.vars].filter(([, v]) => v.exported).map(([name, v]) => `${name}=${v.value}`);
      // sort(1) compares bytes; these are ASCII, so JavaScript's order is the same.
      assert.deepEqual(lines.slice(3 + names.length, -2), exported.sort(), `${context}: exported variables`);
      assert.deepEqual(lines.slice(-2), ['end', ''], context);
      if (!model.stderrMerged) assert.equal(stderr, '', `${context}: stderr`);
    }

    // --- the steps -------------------------------------------------------------------------

    /** Plain output: stdout and stderr in random sizes, sometimes streamed or as base64, sometimes a failing status. */
    async function outputStep(): Promise<string> {
      const writes = textWrites(rng.int(1, 4));
      const status = rng.chance(0.2) ? rng.int(1, 9) : 0;
      const line = writes.map(writeCommand).join('; ') + (status ? `; (exit ${status})` : '');
      const streamed = rng.chance(0.3);
      const output = await run(line, { streamed, base64: rng.chance(0.15) });
      assertNoWrapper(output, line);
      assertWrites(output, writes, model, status, 'output');
      return `${line.slice(0, 100)}${streamed ? ' (streamed)' : ''}`;
    }

    /** Bulk output (`yes | head`), up to 3 MB, UTF-8 sometimes, stdout or stderr. */
    async function bulkStep(): Promise<string> {
      // The draw comes first, so the sequence of draws (the replay) does not depend on timing.
      const multibyte = rng.chance(0.4) && Date.now() > backgroundOutputUntil;
      const unit = multibyte ? `${rng.word(rng.int(0, 5))}äö€😀${rng.word(rng.int(0, 5))}` : rng.word(rng.int(1, 40));
      const size = rng.int(1, 3 * 1024 * 1024);
      const stream: Stream = rng.chance(0.25) ? 'stderr' : 'stdout';
      // Under set -x the members of a pipeline write their trace lines concurrently, a word at a
      // time, so the lines interleave: the group's stderr goes nowhere, so nothing is traced.
      const line = `{ yes ${q(unit)} | head -c ${size}; }${stream === 'stderr' ? ' >&2' : ''} 2>/dev/null`;
      const unitBytes = Buffer.from(`${unit}\n`);
      const bytes = Buffer.from(unitBytes.toString('latin1').repeat(Math.ceil(size / unitBytes.length)), 'latin1').subarray(0, size);
      const base64 = rng.chance(0.3);
      const output = await run(line, { streamed: rng.chance(0.5), base64 });
      assertWrites(output, [{ stream, text: bytes.toString(base64 ? 'latin1' : 'utf8') }], model, 0, `bulk ${size} bytes`);
      return `${line}${base64 ? ' (base64)' : ''}`;
    }

    /** Random bytes (NUL excepted) through printf's octal escapes, as base64. */
    async function binaryStep(): Promise<string> {
      const bytes = Buffer.from(Array.from({ length: rng.int(1, 400) }, () => rng.int(1, 255)));
      const format = [...bytes].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
      // The group's stderr goes nowhere, so neither a trace nor a merged stderr adds to stdout.
      const line = `{ printf '${format}'; } 2>/dev/null`;
      const output = await run(line, { base64: true, streamed: rng.chance(0.5) });
      const stdout = stripBackground(output.stdout);
      assert.ok(stdout === bytes.toString('latin1'), `binary: ${bytes.length} bytes came back as ${Buffer.from(stdout, 'latin1').toString('hex').slice(0, 200)}`);
      assert.equal(output.result.exitCode, 0);
      return `printf of ${bytes.length} random bytes`;
    }

    /** One to three changes of the shell's state in one line; the model follows. */
    async function stateStep(): Promise<string> {
      const parts: string[] = [];
      let traced = model.xtrace;
      const changes = rng.int(1, 3);
      for (let i = 0; i < changes; i++) {
        const kind = rng.weighted({ cd: 5, up: 1, export: 4, local: 2, unset: 2, xtrace: 2, noclobber: 2, nounset: 2, alias: 2, unalias: 1, function: 2, unfunction: 1, merge: 1, saveMerge: 1, restore: 1, trap: 1, untrap: 1, umask: 2 });
        switch (kind) {
          case 'cd': {
            const dir = `${SOAK_DIR}/${rng.pick(['a', 'b', 'with space', "it's", 'd$x'])}/${rng.int(0, 3)}`;
            parts.push(`mkdir -p ${q(dir)} && cd ${q(dir)}`);
            model.cwd = dir;
            break;
          }
          case 'up':
            parts.push('cd ..');
            model.cwd = model.cwd === '/' ? '/' : model.cwd.replace(/\/[^/]+$/, '') || '/';
            break;
          case 'export':
          case 'local': {
            const name = `SK_V${rng.int(0, 9)}`;
            const value = rng.value();
            const exported = kind === 'export' || model.vars.get(name)?.exported === true;
            parts.push(`${kind === 'export' ? 'export ' : ''}${name}=${q(value)}`);
            model.vars.set(name, { value, exported });
            everVars.add(name);
            break;
          }
          case 'unset': {
            const name = `SK_V${rng.int(0, 9)}`;
            parts.push(`unset ${name}`);
            model.vars.delete(name);
            everVars.add(name);
            break;
          }
          case 'xtrace':
            model.xtrace = !model.xtrace;
            traced ||= model.xtrace;
            parts.push(model.xtrace ? 'set -x' : 'set +x');
            break;
          case 'noclobber':
            model.noclobber = !model.noclobber;
            parts.push(model.noclobber ? 'set -C' : 'set +C');
            break;
          case 'nounset':
            model.nounset = !model.nounset;
            parts.push(model.nounset ? 'set -u' : 'set +u');
            break;
          case 'alias': {
            const name = `sk_a${rng.int(0, 4)}`;
            const says = rng.word(rng.int(1, 20));
            parts.push(`alias ${name}=${q(`echo ${says}`)}`);
            model.aliases.set(name, says);
            goneAliases.delete(name);
            break;
          }
          case 'unalias': {
            const name = rng.pick([...model.aliases.keys()]);
            if (!name) break;
            parts.push(`unalias ${name}`);
            model.aliases.delete(name);
            goneAliases.add(name);
            break;
          }
          case 'function': {
            const name = `sk_f${rng.int(0, 4)}`;
            const says = rng.word(rng.int(1, 20));
            parts.push(`${name}() { printf '%s\\n' ${says}; }`);
            model.functions.set(name, says);
            goneFunctions.delete(name);
            break;
          }
          case 'unfunction': {
            const name = rng.pick([...model.functions.keys()]);
            if (!name) break;
            parts.push(`unset -f ${name}`);
            model.functions.delete(name);
            goneFunctions.add(name);
            break;
          }
          case 'merge':
            parts.push(`eval 'exec 2>&1'`);
            model.stderrMerged = true;
            break;
          case 'saveMerge':
            parts.push('exec 7>&2 2>&1');
            model.savedStderr = model.stderrMerged;
            model.stderrMerged = true;
            break;
          case 'restore':
            if (model.savedStderr === undefined) break;
            parts.push('exec 2>&7 7>&-');
            model.stderrMerged = model.savedStderr;
            model.savedStderr = undefined;
            break;
          case 'trap':
            model.exitTrap = `bye-${step}`;
            parts.push(`trap 'echo ${model.exitTrap}' EXIT`);
            break;
          case 'untrap':
            model.exitTrap = undefined;
            parts.push('trap - EXIT');
            break;
          case 'umask':
            model.umask = rng.pick(['0022', '0027', '0077', '0002', '0000']);
            parts.push(`umask ${model.umask}`);
            break;
        }
      }
      if (parts.length === 0) parts.push(':');
      const line = parts.join('; ');
      const output = await run(line);
      assertNoWrapper(output, line);
      // Traced if set -x was on before the line or came on during it.
      const { stdout, stderr } = normalize(output, traced);
      assert.ok(stdout === '' && stderr === '', `\`${line}\` says nothing: stdout ${show(stdout)}, stderr ${show(stderr)}`);
      assert.equal(output.result.exitCode, 0, `\`${line}\` succeeds`);
      assert.equal(output.result.shellReset, false);
      return line;
    }

    /** Calls an alias or function defined earlier (or one removed since: 127). */
    async function useStep(): Promise<string> {
      const defined = [...[...model.aliases].map(([n, s]) => [n, s, 'alias']), ...[...model.functions].map(([n, s]) => [n, s, 'function'])];
      const gone = [...goneAliases, ...goneFunctions].filter((name) => !model.aliases.has(name) && !model.functions.has(name));
      if (defined.length === 0 || (gone.length > 0 && rng.chance(0.2))) {
        const name = rng.pick(gone.length > 0 ? gone : ['sk_never_defined']);
        const output = await run(name);
        assert.equal(output.result.exitCode, 127, `${name} is gone`);
        if (!model.stderrMerged) assert.equal(normalize(output, model.xtrace).stdout, '', `${name}: no output`);
        return `${name} (gone)`;
      }
      const [name, says] = rng.pick(defined);
      const output = await run(name);
      assertWrites(output, [{ stream: 'stdout', text: `${says}\n` }], model, 0, `${name}`);
      return name;
    }

    /** A background job: one that prints later, a quiet `sleep 1`, or `wait` for them all. */
    async function backgroundStep(): Promise<string> {
      const kind = rng.weighted({ echo: 5, sleep: 3, wait: 1 });
      let line: string;
      if (kind === 'echo') {
        const tenths = rng.int(1, 9);
        // Under set -x the job's own traces would come out in a later command's stderr; not its echo.
        line = model.xtrace ? `{ (sleep 0.${tenths}; echo bg-${step}) & } 2>/dev/null` : `(sleep 0.${tenths}; echo bg-${step}) &`;
        backgroundOutputUntil = Math.max(backgroundOutputUntil, Date.now() + tenths * 100 + 2000);
      } else if (kind === 'sleep') {
        line = model.xtrace ? '{ sleep 1 & } 2>/dev/null' : 'sleep 1 &';
      } else {
        line = 'wait; echo waited';
      }
      const output = await run(line);
      assertWrites(output, kind === 'wait' ? [{ stream: 'stdout', text: 'waited\n' }] : [], model, 0, line);
      return line;
    }

    /**
     * Several requests at once. Side by side (the default) each may run in a side shell, which
     * starts at the session's cwd and exported variables; queued (`queue: true`) they run in
     * the session's shell in order, which an order file shows. Some run in a clean shell,
     * some have a timeout that ends them (or drops them while they wait their turn).
     */
    async function parallelStep(): Promise<string> {
      const queued = rng.chance(0.35);
      const orderFile = `${SOAK_DIR}/order-${step}`;
      const members = Array.from({ length: rng.int(2, 5) }, (_, index) => {
        const kind = rng.weighted({ text: 4, state: 3, clean: queued ? 0 : 1, timeout: 1 });
        const writes = kind === 'text' ? textWrites(rng.int(1, 3)) : [];
        const name = rng.pick([...everVars, 'SK_V0']);
        const append = queued && kind !== 'timeout' ? `printf '%s\\n' m${index} >>${orderFile}; ` : '';
        let line: string;
        if (kind === 'text') line = append + writes.map(writeCommand).join('; ');
        else if (kind === 'timeout') line = `sleep ${3000 + step}`;
        else line = `${append}pwd; printf '%s\\n' "\${${name}-<unset>}"`;
        const extra: Partial<P.ExecParams> = { queue: queued || undefined, cleanShell: kind === 'clean' || undefined };
        if (kind === 'timeout') extra.timeoutMs = rng.int(100, 900);
        return { index, kind, writes, name, line, extra, streamed: rng.chance(0.3) };
      });
      const outputs = await Promise.all(members.map((m) => run(m.line, { extra: m.extra, streamed: m.streamed })));
      for (const [i, member] of members.entries()) {
        const output = outputs[i];
        const what = `parallel ${queued ? 'queued' : 'side by side'} #${i} \`${member.line.slice(0, 80)}\``;
        assertNoWrapper(output, what);
        if (queued) assert.equal(output.result.sideBySide, false, `${what}: queued, in the session's shell`);
        if (member.kind === 'timeout') {
          assert.equal(output.result.timedOut, true, `${what}: timed out`);
          assert.ok(STOP_STATUSES.includes(output.result.exitCode), `${what}: exit code ${output.result.exitCode}`);
          if (output.result.shellReset) reset(`${what}: timeout`);
          continue;
        }
        if (member.kind === 'text') {
          assertWrites(output, member.writes, model, 0, what);
          continue;
        }
        const variable = model.vars.get(member.name);
        // A side shell has the session's exported variables only; a clean shell none.
        const value =
          member.kind === 'clean' ? '<unset>' : !variable ? '<unset>' : variable.exported || !output.result.sideBySide ? variable.value : '<unset>';
        const cwd = member.kind === 'clean' ? '/workspace' : model.cwd;
        const { stdout } = normalize(output, member.kind !== 'clean' && model.xtrace);
        assert.ok(stdout === `${cwd}\n${value}\n`, `${what}: says ${show(stdout)}, expected ${show(`${cwd}\n${value}\n`)} (${member.name})`);
        assert.equal(output.result.exitCode, 0, what);
      }
      await waitUntilGone(LONG_SLEEP, 'after a parallel step');
      if (queued) {
        const order = await run(`cat ${orderFile}`, { extra: { cleanShell: true } });
        const expected = members.filter((m) => m.kind !== 'timeout').map((m) => `m${m.index}\n`).join('');
        assert.equal(order.stdout, expected, 'queued commands ran in the order they were sent');
      }
      return `${members.length} at once${queued ? ', queued' : ''}: ${members.map((m) => m.kind).join(', ')}`;
    }

    /** A long command, in one of several shapes, whose rest of line must never run. */
    function longCommand(): { line: string; tag: string } {
      const tag = `after-${step}`;
      const sleep = `sleep ${3000 + step}`;
      const line = rng.pick([
        sleep,
        `${sleep}; echo ${tag}`,
        `${sleep} | cat; echo ${tag}`,
        `sh -c ${q(sleep)}; echo ${tag}`,
        `for i in 1 2 3; do ${sleep}; done; echo ${tag}`,
        `echo started-${step}; ${sleep} && echo ${tag}`,
      ]);
      return { line, tag };
    }

    /** Asserts what a stopped command says and that its processes went; a spared background job stays. */
    async function assertStopped(output: Output, line: string, tag: string, how: 'cancelled' | 'timedOut'): Promise<void> {
      assertNoWrapper(output, line);
      const { result } = output;
      assert.equal(result.cancelled, how === 'cancelled', `${line}: cancelled`);
      assert.equal(result.timedOut, how === 'timedOut', `${line}: timed out`);
      assert.ok(STOP_STATUSES.includes(result.exitCode), `${line}: exit code ${result.exitCode}, expected one of ${STOP_STATUSES.join(', ')}`);
      assert.ok(!normalize(output, model.xtrace).stdout.includes(tag), `${line}: the rest of the line did not run (stdout ${show(output.stdout)})`);
      if (result.shellReset) reset(`${how}: ${line}`);
      await waitUntilGone(new RegExp(`\\bsleep ${3000 + step}\\b`), `${how} \`${line}\``);
    }

    /** Starts a background job that a cancel must spare; returns a check that it still runs, which also ends it. */
    async function sparedJob(): Promise<() => Promise<void>> {
      const sleep = `sleep ${4000 + step}`;
      await run(model.xtrace ? `{ ${sleep} & } 2>/dev/null` : `${sleep} &`);
      return async () => {
        const ps = await processes(sessionId);
        const pid = new RegExp(`^\\s*(\\d+)\\s+${sleep}\\b`, 'm').exec(ps)?.[1];
        assert.ok(pid, `the background job \`${sleep} &\` started before the command was spared; ps says:\n${ps}`);
        await run(`kill ${pid}`, { extra: { cleanShell: true } });
      };
    }

    async function cancelStep(): Promise<string> {
      const { line, tag } = longCommand();
      const spared = rng.chance(0.2) ? await sparedJob() : undefined;
      const cancellation = new CancellationTokenSource();
      const delay = rng.chance(0.1) ? 0 : rng.int(10, 600);
      const request = run(line, { cancellation });
      if (delay > 0) await sleep(delay);
      cancellation.cancel();
      const outcome = await request.then(
        (output) => output,
        (error: unknown) => error,
      );
      if (outcome instanceof ResponseError) {
        // A cancel that reaches the sidecar together with the request may be answered as LSP's RequestCancelled.
        assert.equal(outcome.code, P.ErrorCode.RequestCancelled, `${line}: ${outcome.message}`);
        await waitUntilGone(new RegExp(`\\bsleep ${3000 + step}\\b`), `cancelled \`${line}\``);
      } else if (outcome instanceof Error) {
        throw outcome;
      } else {
        await assertStopped(outcome as Output, line, tag, 'cancelled');
      }
      await spared?.();
      return `${line} cancelled after ${delay} ms${spared ? ' (a background job spared)' : ''}`;
    }

    async function timeoutStep(): Promise<string> {
      const { line, tag } = longCommand();
      const timeoutMs = rng.int(50, 900);
      const spared = rng.chance(0.2) ? await sparedJob() : undefined;
      await assertStopped(await run(line, { extra: { timeoutMs } }), line, tag, 'timedOut');
      await spared?.();
      return `${line} with timeoutMs ${timeoutMs}`;
    }

    /** A second client starts a long command (and queues another), then goes away: both must be dropped. */
    async function killedClientStep(): Promise<string> {
      const second = await sidecar.connectAgain();
      const sleepLine = `sleep ${3000 + step}`;
      const never = `${SOAK_DIR}/never-${step}`;
      const running = second.request(P.ExecRequest.type, { sessionId, line: sleepLine, timeoutMs: COMMAND_TIMEOUT_MS }).then(
        () => 'answered',
        () => 'failed',
      );
      const queued = second.request(P.ExecRequest.type, { sessionId, line: `mkdir -p ${SOAK_DIR}; : >>${never}`, queue: true }).then(
        () => 'answered',
        () => 'failed',
      );
      const when = rng.pick(['at once', 'soon', 'once running'] as const);
      if (when === 'soon') await sleep(rng.int(0, 400));
      if (when === 'once running') {
        await waitFor(`${sleepLine} to run`, async () => (new RegExp(`\\b${sleepLine}\\b`).test(await processes(sessionId)) ? true : undefined), GONE_BOUND_MS);
      }
      second.close();
      assert.deepEqual(await bounded(Promise.all([running, queued]), 'the closed client'), ['failed', 'failed'], "the closed client's requests fail");
      // queue: the session's shell may still be stopping the command; this waits for its turn.
      const barrier = await run(`[ -e ${never} ] && echo ran || echo dropped`, { extra: { queue: true } });
      assert.equal(normalize(barrier, model.xtrace).stdout, 'dropped\n', `the command the closed client had queued did not run`);
      await waitUntilGone(new RegExp(`\\b${sleepLine}\\b`), 'the closed client');
      return `a client started \`${sleepLine}\`, queued another, was closed ${when}`;
    }

    /** Ends the shell (`exit N`, or a failure under set -e): the result says so, its EXIT trap ran, the next command starts afresh. */
    async function exitStep(): Promise<string> {
      const errexit = rng.chance(0.3);
      const status = errexit ? 1 : rng.int(0, 9);
      const line = errexit ? 'set -e; false; echo survived' : `exit ${status}`;
      const output = await run(line);
      assertNoWrapper(output, line);
      assert.equal(output.result.shellReset, true, `${line} ends the shell`);
      assert.equal(output.result.exitCode, status, `${line}: the shell's status`);
      const expected = model.exitTrap ? `${model.exitTrap}\n` : '';
      const { stdout } = normalize(output, model.xtrace);
      assert.ok(stdout === expected, `${line}: stdout ${show(stdout)}, expected ${show(expected)} (its EXIT trap)`);
      reset(line, true);
      return line;
    }

    // --- the run ---------------------------------------------------------------------------

    await run(`mkdir -p ${SOAK_DIR}`);
    // Warm up (a first stream, a cancel, a side shell) before the baseline, so lazily made things are in it.
    await run('yes | head -c 1048576', { streamed: true });
    await run(`sleep 1 & sleep 0.2`);
    await checkState('at the start');
    await sleep(500);
    const rssBefore = rssMb(sidecar.pid);
    const psBefore = await processes(sessionId);

    const weights = { output: 22, bulk: 6, binary: 5, state: 24, use: 6, check: 3, background: 8, parallel: 8, cancel: 7, timeout: 5, killed: 3, exit: 2 };
    const stepFunctions: Record<keyof typeof weights, () => Promise<string>> = {
      output: outputStep,
      bulk: bulkStep,
      binary: binaryStep,
      state: stateStep,
      use: useStep,
      check: async () => (await checkState('a check step'), 'check'),
      background: backgroundStep,
      parallel: parallelStep,
      cancel: cancelStep,
      timeout: timeoutStep,
      killed: killedClientStep,
      exit: exitStep,
    };
    for (step = 1; step <= STEPS; step++) {
      const kind = rng.weighted(weights);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      const stepStarted = Date.now();
      try {
        const what = await stepFunctions[kind]();
        log.push(`#${step} ${kind} (${Date.now() - stepStarted} ms): ${what}`);
        if (step % CHECK_EVERY === 0) await checkState(`the check after step ${step}`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        assert.fail(
          `Soak step ${step} (${kind}) failed with seed ${SEED} (replay: SOAK_SEED=${SEED}): ${message}\n` +
            `The steps before it:\n${log.slice(-12).join('\n')}\n` +
            `The model: ${JSON.stringify({ ...model, vars: [...model.vars], aliases: [...model.aliases], functions: [...model.functions] })}\n` +
            `The sidecar's log ends with:\n${sidecar.logTail(20)}`,
        );
      }
    }
    const stepsMs = Date.now() - started;

    // --- afterwards --------------------------------------------------------------------------

    const ok = await run('echo ok', { extra: { timeoutMs: 15_000 } });
    assert.equal(ok.result.timedOut, false, '`echo ok` answers');
    assert.equal(ok.result.exitCode, 0, '`echo ok` succeeds');
    assert.equal(normalize(ok, model.xtrace).stdout, 'ok\n', `\`echo ok\` says ok (stdout ${show(ok.stdout)})`);
    const psAfter = await processes(sessionId);
    assert.doesNotMatch(psAfter, LONG_SLEEP, `no process of a stopped command is left in the container; ps says:\n${psAfter}`);

    let rssAfter = rssMb(sidecar.pid);
    // Garbage collection runs when it will; give it a few seconds before judging.
    for (let i = 0; i < 20 && rssAfter > rssBefore + MEMORY_BOUND_MB; i++) {
      await sleep(500);
      rssAfter = rssMb(sidecar.pid);
    }
    const summary =
      `seed ${SEED}: ${STEPS} steps in ${(stepsMs / 1000).toFixed(1)} s (${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}); ` +
      `sidecar RSS ${rssBefore.toFixed(1)} MB before, ${rssAfter.toFixed(1)} MB after; ` +
      `processes in the container ${psBefore.trim().split('\n').length - 1} before, ${psAfter.trim().split('\n').length - 1} after`;
    t.diagnostic(summary);
    for (const note of notes) t.diagnostic(note);
    if (process.env.SOAK_VERBOSE) t.diagnostic(`steps:\n${log.join('\n')}\nps after:\n${psAfter}`);
    assert.ok(rssAfter <= rssBefore + MEMORY_BOUND_MB, `the sidecar's RSS is back within ${MEMORY_BOUND_MB} MB: ${summary}`);
  });
});
