import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CancellationTokenSource } from 'vscode-languageserver-protocol';
import type { StreamType } from '../../sidecar/docker/frames';
import { SandkastenError } from '../../sidecar/errors';
import { INT_GRACE_MS, KILL_ESCALATION_MS, TERM_GRACE_MS } from '../../sidecar/exec/commandShell';
import type { ExecCommand } from '../../sidecar/exec/exec';
import type { OutputSink } from '../../sidecar/exec/outputSink';
import { CapturedOutput, StreamedOutput, type OutputChannel } from '../../sidecar/exec/sinks';
import { eventually, settle } from './fakes/clock';
import { makeDomain, TEST_IMAGE, type Domain } from './fakes/domain';
import type { ScriptedOutput, WrittenCommand } from './fakes/shell';


let domain: Domain | undefined;
afterEach(() => {
  domain?.dispose();
  domain = undefined;
});

/** A running session (cold, no pool) whose shell answers with `script`, keyed by command line. */
async function runningSession(script: Record<string, ScriptedOutput> = {}) {
  domain = await makeDomain();
  const parts = domain;
  const workspace = await parts.workspaces.create({ name: 'exec' });
  const session = await parts.sessions.start(workspace.id);
  const written: WrittenCommand[] = [];
  parts.engine.script = (_text, command) => {
    written.push(command);
    return script[command.line ?? command.argv!.join(' ')];
  };
  const mainShell = () => parts.engine.shellsOf(session.containerId!).find((shell) => shell.origin === 'main')!;
  const run = (command: Omit<ExecCommand, 'sessionId'>, sink: OutputSink = new CapturedOutput('utf8'), cancellation?: CancellationTokenSource) =>
    parts.exec.run({ sessionId: session.id, ...command }, sink, cancellation?.token);
  return { ...parts, workspace, session, written, mainShell, run };
}

const hasCode = (codeName: string) => (error: unknown) => error instanceof SandkastenError && error.codeName === codeName;

/** A sink that records what reaches it and can be made to lag behind. */
class RecordingSink implements OutputSink {
  readonly received: Array<[StreamType, string]> = [];
  readonly events: string[] = [];
  congested = false;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly hooks: { prepare?: () => Promise<void> } = {}) {}

  async prepare(): Promise<void> {
    this.events.push('prepare');
    await this.hooks.prepare?.();
  }

  write(stream: StreamType, data: Buffer): void {
    this.received.push([stream, data.toString()]);
  }

  drained(): Promise<void> {
    this.events.push('waited for drain');
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  drain(): void {
    this.congested = false;
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  async finish(): Promise<void> {
    this.events.push('finish');
  }

  dispose(): void {
    this.events.push('dispose');
  }
}

describe('exec', () => {
  it('captures stdout, stderr and the exit code of a command line, in the session shell', async () => {
    const { run, written, engine, mainShell, workspaces, workspace } = await runningSession({
      'make test': { stdout: 'all green\n', stderr: 'one warning\n', exitCode: 2 },
    });
    const sink = new CapturedOutput('utf8');

    const outcome = await run({ line: 'make test' }, sink);

    assert.deepEqual(outcome, { exitCode: 2, durationMs: 0, timedOut: false, cancelled: false, shellReset: false, sideBySide: false, cwd: '/workspace' }, 'the shell reports where it is after the command');
    assert.equal(sink.text('stdout'), 'all green\n');
    assert.equal(sink.text('stderr'), 'one warning\n');
    assert.deepEqual(written.map((command) => command.line), ['make test']);
    assert.equal(mainShell().commands.length, 1, "the container's main shell ran it");
    assert.equal(engine.callsTo('exec').length, 0, 'no exec was needed');
    assert.equal(workspaces.get(workspace.id).stats.commands, 1);
  });

  it("runs a pooled session's first command in the shell the pool attached", async () => {
    domain = await makeDomain({ 'pool.images': { [TEST_IMAGE]: 1 } });
    const { pool, engine, workspaces, sessions, exec } = domain;
    await pool.start();
    await eventually(() => pool.status().images[0]?.ready === 1, 'the pool to fill');
    engine.script = () => ({ stdout: 'warm\n' });
    const session = await sessions.start((await workspaces.create({ name: 'warm' })).id);
    const sink = new CapturedOutput('utf8');

    await exec.run({ sessionId: session.id, line: 'echo warm' }, sink);

    assert.equal(session.fromPool, true);
    assert.equal(sink.text('stdout'), 'warm\n');
    assert.equal(engine.callsTo('exec').length, 0);
    assert.equal(engine.shellsOf(session.containerId!).find((shell) => shell.origin === 'main')?.commands.length, 1);
  });

  it('quotes an argv so every word arrives as given', async () => {
    const { run, written } = await runningSession({ "printf %s it's $HOME": { stdout: "it's $HOME" } });
    const sink = new CapturedOutput('utf8');

    const outcome = await run({ command: ['printf', '%s', "it's $HOME"] }, sink);

    assert.equal(outcome.exitCode, 0);
    assert.deepEqual(written[0].argv, ['printf', '%s', "it's $HOME"]);
    assert.equal(sink.text('stdout'), "it's $HOME");
  });

  it('captures binary output unchanged as base64', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x1e, 0x80, 0x0a]);
    const { run } = await runningSession({ 'cat blob': { stdout: bytes } });
    const sink = new CapturedOutput('base64');

    await run({ line: 'cat blob' }, sink);

    assert.deepEqual(Buffer.from(sink.text('stdout'), 'base64'), bytes);
  });

  it('streams output and decodes a UTF-8 character split across chunks', async () => {
    const { run, mainShell } = await runningSession({ 'tail -f log': { hang: true } });
    const sent: Array<[StreamType, string]> = [];
    const channel: OutputChannel = { send: (stream, data) => void sent.push([stream, data]), congested: false, drained: async () => undefined };
    const euro = Buffer.from('€'); // three bytes

    const outcome = run({ line: 'tail -f log' }, new StreamedOutput(channel, 'utf8'));
    await eventually(() => mainShell().running !== undefined, 'the command to start');
    mainShell().print('stdout', Buffer.concat([Buffer.from('price: '), euro.subarray(0, 2)]));
    await settle();
    mainShell().print('stdout', Buffer.concat([euro.subarray(2), Buffer.from('5\n')]));
    mainShell().print('stderr', 'fine\n');
    await settle();
    mainShell().finish(0);

    assert.equal((await outcome).exitCode, 0);
    assert.deepEqual(sent, [
      ['stdout', 'price: '],
      ['stdout', '€5\n'],
      ['stderr', 'fine\n'],
    ]);
  });

  it('pauses the shell stream while the sink is behind, and resumes once it drained', async () => {
    const { run, mainShell } = await runningSession({ 'yes': { hang: true } });
    const sink = new RecordingSink();
    sink.congested = true;

    const outcome = run({ line: 'yes' }, sink);
    await eventually(() => mainShell().running !== undefined, 'the command to start');
    mainShell().print('stdout', 'first\n');
    await settle();
    mainShell().print('stdout', 'second\n');
    await settle();
    assert.deepEqual(sink.received, [['stdout', 'first\n']], 'nothing more arrives while the sink is behind');
    assert.ok(sink.events.includes('waited for drain'));

    sink.drain();
    await settle();
    assert.deepEqual(sink.received, [
      ['stdout', 'first\n'],
      ['stdout', 'second\n'],
    ]);
    mainShell().finish(0);
    assert.equal((await outcome).exitCode, 0);
    assert.deepEqual(sink.events.slice(-2), ['finish', 'dispose']);
  });

  it('interrupts a command that runs past its timeout and reports timedOut', async () => {
    const { run, clock, engine, mainShell } = await runningSession({ 'sleep 100': { hang: true }, 'echo after': { stdout: 'after\n' } });

    const outcome = run({ line: 'sleep 100', timeoutMs: 5000 });
    await settle();
    await clock.advance(4999);
    assert.deepEqual(engine.runOnceScripts, [], 'nothing is stopped before the deadline');
    await clock.advance(1);

    assert.deepEqual(await outcome, { exitCode: 130, durationMs: 5000, timedOut: true, cancelled: false, shellReset: false, sideBySide: false, cwd: '/workspace' }, 'stopped like Ctrl-C');
    assert.equal(engine.runOnceScripts.length, 1);
    assert.match(engine.runOnceScripts[0], /kill -INT/);
    assert.match(engine.runOnceScripts[0], new RegExp(`kill -USR1 ${mainShell().pid}`), 'the shell abandons the rest of the line');
    assert.match(engine.runOnceScripts[0], new RegExp(`kids ${mainShell().pid} \\|`), 'the stop script targets the shell');

    const sink = new CapturedOutput('utf8');
    assert.equal((await run({ line: 'echo after' }, sink)).exitCode, 0, 'the shell still works');
    assert.equal(sink.text('stdout'), 'after\n');
    assert.equal(mainShell().commands.length, 2);
  });

  it('escalates to TERM, KILL, then kills the shell, for a command that ignores INT and TERM', async () => {
    const { run, clock, engine, mainShell, session } = await runningSession({ 'trap "" TERM; sleep 100': { hang: true }, pwd: { stdout: '/workspace\n' } });
    engine.hangIgnores.add('INT');
    engine.hangIgnores.add('TERM');
    engine.hangIgnores.add('KILL');
    const firstShell = mainShell();

    const outcome = run({ line: 'trap "" TERM; sleep 100', timeoutMs: 1000 });
    await settle();
    await clock.advance(1000 + INT_GRACE_MS + TERM_GRACE_MS + KILL_ESCALATION_MS);

    const result = await outcome;
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, 137);
    assert.deepEqual(
      engine.runOnceScripts.map((script) => (/kill -(INT|TERM|KILL)/.exec(script) ?? [''])[0]),
      ['kill -INT', 'kill -TERM', 'kill -KILL', 'kill -KILL'],
    );
    assert.equal(engine.runOnceScripts[3], `kill -KILL ${firstShell.pid}`);

    const sink = new CapturedOutput('utf8');
    assert.equal((await run({ line: 'pwd' }, sink)).exitCode, 0);
    assert.equal(sink.text('stdout'), '/workspace\n');
    assert.deepEqual(engine.callsTo('exec'), [[session.containerId, { command: ['sh'], workingDir: '/workspace' }]], 'the next command gets an exec\'d shell');
  });

  it('stops a command when its request is cancelled and reports cancelled', async () => {
    const { run, engine } = await runningSession({ 'npm start': { hang: true } });
    const cancellation = new CancellationTokenSource();

    const outcome = run({ line: 'npm start' }, new CapturedOutput('utf8'), cancellation);
    await settle();
    cancellation.cancel();

    assert.deepEqual(await outcome, { exitCode: 130, durationMs: 0, timedOut: false, cancelled: true, shellReset: false, sideBySide: false, cwd: '/workspace' });
    assert.match(engine.runOnceScripts[0], /kill -INT/);
  });

  it('drops a cancelled command that waits its turn, without disturbing the one running', async () => {
    const { run, mainShell, engine, written } = await runningSession({ build: { hang: true } });
    const cancellation = new CancellationTokenSource();

    const first = run({ line: 'build' });
    const second = run({ line: 'test', queue: true }, new CapturedOutput('utf8'), cancellation);
    await eventually(() => mainShell().running?.line === 'build', 'the first command to start');
    cancellation.cancel();

    assert.deepEqual(await second, { exitCode: 130, durationMs: 0, timedOut: false, cancelled: true, shellReset: false, sideBySide: false });
    assert.deepEqual(engine.runOnceScripts, [], 'nothing was stopped');
    mainShell().finish(0);
    assert.equal((await first).exitCode, 0);
    await settle();
    assert.deepEqual(
      written.map((command) => command.line),
      ['build'],
      'the dropped command was never written',
    );
  });

  it('runs a command at once beside a busy session shell, in a side shell that takes on the session\'s cwd and exports', async () => {
    const { run, mainShell, engine, session } = await runningSession({ 'npm run dev': { hang: true }, 'echo side': { stdout: 'side\n' } });
    const long = run({ line: 'npm run dev' });
    await eventually(() => mainShell().running?.line === 'npm run dev', 'the long command to start');

    const sink = new CapturedOutput('utf8');
    const beside = await run({ line: 'echo side' }, sink);
    assert.equal(beside.sideBySide, true);
    assert.equal(sink.text('stdout'), 'side\n');
    assert.equal(mainShell().running?.line, 'npm run dev', 'the long command still runs');
    const sideShell = engine.shellsOf(session.containerId!).find((shell) => shell.origin === 'exec')!;
    assert.match(sideShell.commands.at(-1)!, /\. \/dev\/shm\/\.sandkasten-session-env/, 'it takes on the exported environment');
    assert.match(sideShell.commands.at(-1)!, /cd -- "\$__sk_cwd"/, 'and the cwd');
    assert.match(mainShell().commands[0], /export -p; [^\n]*>\|\/dev\/shm\/\.sandkasten-session-env/, 'which the session shell noted as the long command started');

    await run({ line: 'echo side' });
    assert.equal(engine.callsTo('exec').length, 1, 'the next one reuses the warm side shell: no second exec');
    mainShell().finish(0);
    assert.equal((await long).sideBySide, false);
  });

  it('queues a command behind a busy session shell when asked to, in strict order', async () => {
    const { run, mainShell, engine, written } = await runningSession({ build: { hang: true }, test: { stdout: 'ok\n' } });
    const first = run({ line: 'build' });
    await eventually(() => mainShell().running?.line === 'build', 'the first command to start');
    const second = run({ line: 'test', queue: true });
    await settle();
    assert.deepEqual(written.map((command) => command.line), ['build'], 'the queued command waits');
    mainShell().finish(0);
    await first;
    assert.equal((await second).sideBySide, false);
    assert.deepEqual(written.map((command) => command.line), ['build', 'test']);
    assert.equal(engine.callsTo('exec').length, 0, 'no other shell was opened');
  });

  it('runs nothing for a request cancelled before its command was written', async () => {
    const { run, written } = await runningSession();
    const cancellation = new CancellationTokenSource();
    cancellation.cancel();

    const outcome = await run({ line: 'rm -rf build' }, new CapturedOutput('utf8'), cancellation);

    assert.equal(outcome.cancelled, true);
    assert.equal(outcome.exitCode, 130);
    assert.deepEqual(written, []);
  });

  it("reports a command that ends the main shell with the shell's status, the state reset, and carries on in a new shell", async () => {
    const { run, engine, mainShell, session } = await runningSession({ 'exit 3': { stdout: 'bye\n', exitCode: 3, endsShell: true }, pwd: { stdout: '/workspace\n' } });
    const first = mainShell();
    const sink = new CapturedOutput('utf8');

    assert.deepEqual(await run({ line: 'exit 3' }, sink), { exitCode: 3, durationMs: 0, timedOut: false, cancelled: false, shellReset: true, sideBySide: false });
    assert.equal(sink.text('stdout'), 'bye\n', "what the shell printed before it ended (an EXIT trap's output) is the command's");
    assert.equal(first.alive, false);
    assert.equal((await run({ line: 'pwd' })).shellReset, false);
    assert.deepEqual(engine.callsTo('exec'), [[session.containerId, { command: ['sh'], workingDir: '/workspace' }]], "the next command gets an exec'd shell");
  });

  it('ignores a death marker with the wrong secret: sandbox code cannot end a command early', async () => {
    const { run, mainShell } = await runningSession({ 'false-alarm': { stdout: '\x1eSKdeadbeef:E0\x1f', exitCode: 42 } });
    const sink = new CapturedOutput('utf8');

    const outcome = await run({ line: 'false-alarm' }, sink);

    assert.equal(outcome.exitCode, 42);
    assert.equal(outcome.shellReset, false);
    assert.equal(sink.text('stdout'), '\x1eSKdeadbeef:E0\x1f', 'a forged marker is plain output');
    assert.equal(mainShell().alive, true);
  });

  it('asks for either a command or a line: InvalidInput for both or neither', async () => {
    const { run, written } = await runningSession();

    await assert.rejects(run({ line: 'ls', command: ['ls'] }), hasCode('InvalidInput'));
    await assert.rejects(run({}), hasCode('InvalidInput'));
    assert.deepEqual(written, []);
  });

  it('refuses a stopped session with Conflict, and an unknown one with NotFound', async () => {
    const { run, sessions, session, exec } = await runningSession();
    await sessions.stop(session.id);

    await assert.rejects(run({ line: 'ls' }), (error: unknown) => hasCode('Conflict')(error) && /stopped/.test((error as Error).message));
    await assert.rejects(exec.run({ sessionId: 'ses-000000000000', line: 'ls' }, new CapturedOutput('utf8')), hasCode('NotFound'));
  });

  it('opens no shell and runs nothing when the sink cannot be prepared', async () => {
    const { run, engine, written } = await runningSession();
    const sink = new RecordingSink({
      prepare: async () => {
        throw new Error('the raw channel never came');
      },
    });

    await assert.rejects(run({ line: 'cat big', cleanShell: true }, sink), /the raw channel never came/);

    assert.deepEqual(engine.callsTo('exec'), [], 'no clean shell was opened');
    assert.deepEqual(written, []);
    assert.deepEqual(sink.events, ['prepare', 'dispose']);
  });

  it('runs a cleanShell command in a shell of its own, closed afterwards', async () => {
    const { run, engine, session, mainShell } = await runningSession({ env: { stdout: 'PATH=/bin\n' } });
    const sink = new CapturedOutput('utf8');

    await run({ line: 'env', cleanShell: true }, sink);
    await settle();

    assert.equal(sink.text('stdout'), 'PATH=/bin\n');
    const [clean] = engine.shellsOf(session.containerId!).filter((shell) => shell.origin === 'exec');
    assert.equal(clean.commands.length, 1);
    assert.equal(clean.alive, false, 'it is closed after the command');
    assert.equal(mainShell().commands.length, 0);
    assert.equal(mainShell().alive, true);
  });
});

describe('streamed output', () => {
  const recordingChannel = () => {
    const sent: Array<[StreamType, string]> = [];
    const channel: OutputChannel = { send: (stream, data) => void sent.push([stream, data]), congested: false, drained: async () => undefined };
    return { sent, channel };
  };

  it('batches the writes of one turn into one message per stream', async () => {
    const { sent, channel } = recordingChannel();
    const output = new StreamedOutput(channel, 'utf8');

    output.write('stdout', Buffer.from('a'));
    output.write('stderr', Buffer.from('x'));
    output.write('stdout', Buffer.from('b'));
    assert.deepEqual(sent, [], 'nothing is sent within the turn');
    await settle(1);

    assert.deepEqual(sent, [
      ['stdout', 'ab'],
      ['stderr', 'x'],
    ]);
  });

  it('sends at once when a batch reaches the message size', () => {
    const { sent, channel } = recordingChannel();
    const output = new StreamedOutput(channel, 'utf8');

    output.write('stdout', Buffer.alloc(256 * 1024, 'z'));

    assert.equal(sent.length, 1);
    assert.equal(sent[0][1].length, 256 * 1024);
  });

  it('holds a split UTF-8 character until it is whole, and sends an unfinished one at the end', async () => {
    const { sent, channel } = recordingChannel();
    const output = new StreamedOutput(channel, 'utf8');
    const snowman = Buffer.from('☃');

    output.write('stdout', Buffer.concat([Buffer.from('a'), snowman.subarray(0, 1)]));
    await settle(1);
    output.write('stdout', snowman.subarray(1));
    await settle(1);
    output.write('stdout', snowman.subarray(0, 2));
    await output.finish();

    assert.deepEqual(
      sent.map(([, data]) => data),
      ['a', '☃', '\ufffd'],
    );
  });

  it('passes bytes through as base64 without holding any back', async () => {
    const { sent, channel } = recordingChannel();
    const output = new StreamedOutput(channel, 'base64');
    const bytes = Buffer.from([0xe2, 0x98]);

    output.write('stdout', bytes);
    await settle(1);

    assert.deepEqual(sent, [['stdout', bytes.toString('base64')]]);
  });
});
