import { cryptoRandomHex, newTerminalId, type RandomHex } from '../client/ids';
import type { OpenTerminalParams, OpenTerminalResult, TerminalInfo } from '../client/protocol';
import { runOnceWithin, type Engine } from '../docker/engine';
import { conflict, hasCode, notFound } from '../errors';
import type { Sessions } from '../sessions';
import type { Store } from '../store/store';
import { stateOf, type TerminalRow, type TerminalStore } from '../store/terminalStore';
import type { Changes } from '../util/changes';
import { isoTime, type Clock } from '../util/clock';
import { KeyedLock } from '../util/keyedLock';
import type { Logger } from '../util/log';
import { LiveShell, type TerminalSize } from './liveShell';
import { LiveTerminal, type TerminalClient } from './liveTerminal';
import { endShellCommand, exportLines, launchCommand, readStateCommand, STATE_DUMP_MAX_BYTES } from './shellScripts';
import { parseStateDump, type TerminalState } from './state';

export interface TerminalDependencies {
  store: Store;
  engine: Engine;
  sessions: Sessions;
  changes: Changes;
  clock: Clock;
  log: Logger;
  randomHex?: RandomHex;
}

const NEW_TERMINAL_STATE: TerminalState = { cwd: '/workspace', env: {}, history: '' };
/** After SIGHUP, how long a shell may take to exit (bash hangs up its jobs) before its stream is dropped. */
const CLOSE_GRACE_MS = 2000;
/** A script the sidecar runs in a container (read state, end a shell) gets this long; the container may be stuck. */
const SCRIPT_TIMEOUT_MS = 10_000;
const SCRIPT_LIMITS = { maxBytes: 64 * 1024, timeoutMs: SCRIPT_TIMEOUT_MS };

function restoredLine(cwd: string): string {
  return `\r\n[sandkasten] restored: new shell in ${cwd} (the previous one ended)\r\n`;
}

/**
 * Terminals: interactive shells in a session's container that outlive the clients showing
 * them. A live terminal has a shell now (LiveTerminal); a dormant one only has its row, and
 * opening it starts a new shell restored to the state the old one last reported (see
 * terminal/shellScripts.ts for how the shell reports it). After a sidecar restart every
 * terminal is dormant. Work on one terminal is serialised, so two windows opening the same
 * dormant terminal get one shell.
 */
export class Terminals {
  private readonly live = new Map<string, LiveTerminal>();
  private readonly rows: TerminalStore;
  private readonly locks = new KeyedLock();
  private stopped = false;

  constructor(private readonly deps: TerminalDependencies) {
    this.rows = deps.store.terminals;
    deps.changes.onSessionEnded((sessionId) => this.onSessionEnded(sessionId));
  }

  list(sessionId?: string): TerminalInfo[] {
    if (sessionId !== undefined) this.deps.sessions.get(sessionId);
    return this.rows.list(sessionId).map((row) => this.info(row));
  }

  /**
   * Creates a terminal, reattaches to a live one, or restores a dormant one; `client` is
   * attached. A reattach resizes the shell to the client's size unless `resize` is false (a
   * share's guest watches the host's terminal at the host's size).
   */
  async open(params: OpenTerminalParams, client: TerminalClient, options: { resize?: boolean } = {}): Promise<OpenTerminalResult> {
    const { sessionId, terminalId } = params;
    const size = { cols: params.cols, rows: params.rows };
    await this.deps.sessions.thawIfFrozen(sessionId); // opening a terminal is a use
    if (terminalId === undefined) return this.create(sessionId, size, client, params.private === true);
    this.requireTerminal(terminalId, sessionId);
    return this.locks.run(terminalId, async () => {
      const row = this.requireTerminal(terminalId, sessionId); // it may have been closed while we waited
      const live = this.live.get(terminalId);
      if (live?.isAlive) {
        if (options.resize !== false) await live.resize(size).catch(() => undefined);
        return this.attach(live, row, client, 'attached');
      }
      const containerId = this.deps.sessions.running(sessionId).containerId;
      const state = await this.lastState(containerId, row);
      this.rows.saveState(terminalId, state);
      await this.deps.store.commit();
      const terminal = await this.startShell(terminalId, sessionId, containerId, state, size, restoredLine(state.cwd));
      return this.attach(terminal, this.requireTerminal(terminalId, sessionId), client, 'restored');
    });
  }

  /** Ends the shell (SIGHUP) and forgets the terminal. */
  async close(terminalId: string): Promise<null> {
    this.requireTerminal(terminalId);
    await this.locks.run(terminalId, async () => {
      const row = this.rows.get(terminalId);
      if (!row) return; // closed by someone else meanwhile
      const live = this.live.get(terminalId);
      if (live) live.ending = 'closed';
      const session = this.deps.sessions.get(row.session_id);
      if (session.state === 'running' && session.containerId) {
        // Ends a live shell, or one orphaned by a sidecar restart, and removes the state files.
        await runOnceWithin(this.deps.engine, this.deps.clock, session.containerId, endShellCommand(terminalId), SCRIPT_LIMITS).catch((error) => {
          if (!hasCode(error, 'Conflict')) throw error; // the container stopped meanwhile
        });
      }
      await live?.endWithin(CLOSE_GRACE_MS);
      this.live.delete(terminalId);
      this.rows.delete(terminalId);
      await this.deps.store.commit();
      this.deps.changes.emit('terminals');
    });
    return null;
  }

  input(client: TerminalClient, terminalId: string, data: string): void {
    const terminal = this.live.get(terminalId);
    if (!terminal?.isAttached(client)) return;
    // A keystroke is a use: a frozen session thaws (the input waits in the pipe meanwhile).
    this.deps.sessions.thawIfFrozen(terminal.sessionId).catch((error: unknown) => this.deps.log.error(`thawing session ${terminal.sessionId}`, error));
    terminal.input(data);
  }

  resize(client: TerminalClient, terminalId: string, size: TerminalSize): void {
    const terminal = this.live.get(terminalId);
    if (terminal?.isAttached(client)) void terminal.resize(size).catch(() => undefined);
  }

  detach(client: TerminalClient, terminalId: string): void {
    const terminal = this.live.get(terminalId);
    if (!terminal?.isAttached(client)) return;
    terminal.detach(client);
    this.deps.changes.emit('terminals');
  }

  /** A client's connection closed: it stops listening everywhere; the shells live on. */
  detachEverywhere(client: TerminalClient): void {
    let detached = false;
    for (const terminal of this.live.values()) {
      if (!terminal.isAttached(client)) continue;
      terminal.detach(client);
      detached = true;
    }
    // After the sidecar has forgotten the closed connection, which would refuse the broadcast.
    if (detached && !this.stopped) queueMicrotask(() => this.deps.changes.emit('terminals'));
  }

  /**
   * The sidecar shuts down: drop every stream. The shells stay in their containers until the
   * terminal is opened again (the restore ends the orphan) or the container stops.
   */
  closeAll(): void {
    this.stopped = true;
    for (const terminal of this.live.values()) {
      terminal.ending = 'dropped';
      terminal.dropShell();
    }
    this.live.clear();
  }

  private async create(sessionId: string, size: TerminalSize, client: TerminalClient, onlyHost: boolean): Promise<OpenTerminalResult> {
    const containerId = this.deps.sessions.running(sessionId).containerId;
    const id = newTerminalId(this.deps.randomHex ?? cryptoRandomHex);
    const terminal = await this.startShell(id, sessionId, containerId, NEW_TERMINAL_STATE, size);
    try {
      this.rows.insert(id, sessionId, this.rows.nextName(sessionId), NEW_TERMINAL_STATE, onlyHost);
      await this.deps.store.commit();
    } catch (error) {
      // The session went away while the shell started (its row is gone): leave nothing behind.
      terminal.ending = 'dropped';
      terminal.dropShell();
      this.live.delete(id);
      throw error;
    }
    return this.attach(terminal, this.requireTerminal(id), client, 'created');
  }

  private async startShell(
    id: string,
    sessionId: string,
    containerId: string,
    state: TerminalState,
    size: TerminalSize,
    introduction = '',
  ): Promise<LiveTerminal> {
    let shell: LiveShell;
    try {
      const command = launchCommand(id, { cwd: state.cwd, history: state.history, environment: exportLines(state.env) });
      shell = await LiveShell.start(this.deps.engine, containerId, command, size);
    } catch (error) {
      if (hasCode(error, 'Conflict')) {
        throw conflict(`The container of session "${sessionId}" is not running. Stop the session and start it again.`);
      }
      throw error;
    }
    const terminal = new LiveTerminal(
      id,
      sessionId,
      shell,
      this.deps.clock,
      {
        onCommandSettled: () => void this.saveReportedState(id, containerId),
        onEnded: (ended, exitCode) => this.onShellEnded(ended, exitCode, containerId),
      },
      introduction,
    );
    this.live.set(id, terminal);
    return terminal;
  }

  /** Synchronous from attach to return, so no output falls between the replay and the live stream. */
  private attach(terminal: LiveTerminal, row: TerminalRow, client: TerminalClient, outcome: OpenTerminalResult['outcome']): OpenTerminalResult {
    const replay = terminal.attach(client);
    this.deps.changes.emit('terminals');
    return { terminal: this.info(row), replay, outcome };
  }

  /** The state files in the container when it still has them (fresher), else the database's copy. */
  private async lastState(containerId: string, row: TerminalRow): Promise<TerminalState> {
    const saved = stateOf(row);
    const reported = await this.readReportedState(containerId, row.id);
    return { cwd: reported?.cwd ?? saved.cwd, env: reported?.env ?? saved.env, history: reported?.history ?? saved.history };
  }

  private async readReportedState(containerId: string, terminalId: string): Promise<Partial<TerminalState> | undefined> {
    try {
      return parseStateDump(await runOnceWithin(this.deps.engine, this.deps.clock, containerId, readStateCommand(terminalId), { maxBytes: STATE_DUMP_MAX_BYTES, timeoutMs: SCRIPT_TIMEOUT_MS }));
    } catch (error) {
      this.deps.log.info(`could not read the state of terminal ${terminalId}: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Copies what the shell reported into the database (one write, coalesced with others). */
  private saveReportedState(terminalId: string, containerId: string): Promise<void> {
    return this.locks.run(`state:${terminalId}`, async () => {
      if (this.stopped || !this.live.get(terminalId)?.isAlive) return;
      const reported = await this.readReportedState(containerId, terminalId);
      const row = this.rows.get(terminalId);
      if (!reported || !row || this.stopped) return;
      const saved = stateOf(row);
      const next = { cwd: reported.cwd ?? saved.cwd, env: reported.env ?? saved.env, history: reported.history ?? saved.history };
      if (JSON.stringify(next) === JSON.stringify(saved)) return;
      this.rows.saveState(terminalId, next);
      await this.deps.store.commit();
      if (next.cwd !== saved.cwd) this.deps.changes.emit('terminals');
    });
  }

  private onShellEnded(terminal: LiveTerminal, exitCode: number | undefined, containerId: string): void {
    if (this.live.get(terminal.id) === terminal) this.live.delete(terminal.id);
    if (this.stopped || terminal.ending) return;
    if (exitCode !== undefined && this.rows.get(terminal.id)) {
      // The person ended the shell (exit, Ctrl-D): the terminal is over, not waiting for a restore.
      this.rows.delete(terminal.id);
      void this.deps.store.commit().catch((error) => this.deps.log.error(`saving the end of terminal ${terminal.id}`, error));
      void runOnceWithin(this.deps.engine, this.deps.clock, containerId, endShellCommand(terminal.id), SCRIPT_LIMITS).catch(() => undefined);
    }
    this.deps.changes.emit('terminals');
  }

  /** The container stopped or went away: its shells are gone, their terminals turn dormant. */
  private onSessionEnded(sessionId: string): void {
    for (const terminal of this.live.values()) {
      if (terminal.sessionId === sessionId) terminal.dropShell();
    }
    this.deps.changes.emit('terminals');
  }

  private requireTerminal(terminalId: string, sessionId?: string): TerminalRow {
    const row = this.rows.get(terminalId);
    if (!row || (sessionId !== undefined && row.session_id !== sessionId)) {
      const where = sessionId !== undefined ? ` in session "${sessionId}"` : '';
      throw notFound(`No terminal "${terminalId}"${where}. It may have been closed; open a new terminal instead.`);
    }
    return row;
  }

  private info(row: TerminalRow): TerminalInfo {
    const live = this.live.get(row.id);
    return {
      id: row.id,
      sessionId: row.session_id,
      name: row.name,
      state: live?.isAlive ? 'live' : 'dormant',
      cwd: row.cwd,
      createdAt: isoTime(row.created_at)!,
      attached: live?.attachedCount ?? 0,
      ...(row.private ? { private: true } : {}),
    };
  }
}
