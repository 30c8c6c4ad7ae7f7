import type { ExecCommand } from '../../exec/exec';
import { PipedStdout } from '../../rawChannel/pipedStdout';
import { ApiError, badRequest, toApiError } from '../apiError';
import { CombinedOutput, SseOutput, SseStream } from '../execOutput';
import { Fields, readJsonObject } from '../requestBody';
import type { Route, RouteContext } from '../route';
import { cancellationOf, sessionOf, touch } from './common';

/** v1's limits: a command line of at most 1 MiB; 120 s when no timeout is given, at most 10 min. */
const MAX_CMD_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_TIMEOUT_MS = 600_000;

/**
 * What an exec request asks: v1's `cmd` (a shell command line) and `timeout_ms` (`raw_output`
 * is accepted and means nothing here: output is never cleaned), and ours: `side_by_side` to run
 * at once beside a busy shell instead of waiting for it (v1 waits), `clean_shell`.
 */
async function execRequest(context: RouteContext): Promise<ExecCommand> {
  const fields = new Fields(await readJsonObject(context.req));
  const line = fields.requiredString('cmd', 'cmd is required');
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_CMD_BYTES) {
    throw badRequest(`cmd is too large (${bytes} bytes), max is ${MAX_CMD_BYTES} bytes`, {
      cmd_bytes: bytes,
      max_cmd_bytes: MAX_CMD_BYTES,
      recommendation: 'use /fs/write to upload a script, then run a short exec command',
    });
  }
  const timeoutMs = fields.integer('timeout_ms', 0, MAX_TIMEOUT_MS, `timeout_ms must not exceed ${MAX_TIMEOUT_MS} (10 minutes)`) || DEFAULT_TIMEOUT_MS;
  fields.boolean('raw_output');
  const sideBySide = fields.boolean('side_by_side') ?? false;
  const cleanShell = fields.boolean('clean_shell') ?? false;
  return { sessionId: sessionOf(context).id, line, timeoutMs, queue: !sideBySide, cleanShell };
}

export const EXEC_ROUTES: Route[] = [
  {
    method: 'POST',
    path: '/v1/sessions/:id/exec',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const { services, signal } = context;
      const command = await execRequest(context);
      const session = services.sessions.running(command.sessionId);
      const output = new CombinedOutput(services.config.current['api.maxOutputKb'] * 1024);
      const outcome = await services.exec.run(command, output, cancellationOf(signal));
      await touch(context, session);
      const result = {
        exit_code: outcome.exitCode,
        cwd: outcome.cwd ?? services.exec.cwdOf(session.id),
        output: output.text(),
        truncated: output.truncated,
        duration_ms: outcome.durationMs,
        // ours
        timed_out: outcome.timedOut,
        side_by_side: outcome.sideBySide,
        shell_reset: outcome.shellReset,
      };
      // v1 answers a command that ran out of time with 504; what it printed so far is in the details.
      if (outcome.timedOut) throw new ApiError(504, 'COMMAND_TIMEOUT', `command timeout: it ran longer than ${command.timeoutMs} ms and was stopped`, result);
      return { body: result };
    },
  },
  {
    method: 'POST',
    path: '/v1/sessions/:id/exec/stream',
    notFound: 'SESSION_NOT_FOUND',
    async handle(context) {
      const { services, signal, res } = context;
      // Bad requests are plain JSON errors; once the stream started, errors are `error` events.
      const command = await execRequest(context);
      const session = services.sessions.running(command.sessionId);
      const sse = new SseStream(res);
      sse.open();
      const keepAlive = sse.keepAlive(services.clock);
      try {
        // stdout comes from a FIFO straight from the container when one works: bulk output at pipe speed.
        const output = new PipedStdout(services.pipes, new SseOutput(sse, () => services.clock.now()), (data) => services.sessionLogs.append(session.id, 'stdout', data));
        const outcome = await services.exec.run(command, output, cancellationOf(signal));
        await touch(context, session);
        if (outcome.timedOut) {
          sse.send('error', { error: `command timeout: it ran longer than ${command.timeoutMs} ms and was stopped`, error_code: 'COMMAND_TIMEOUT' });
        } else {
          sse.send('done', {
            exit_code: outcome.exitCode,
            cwd: outcome.cwd ?? services.exec.cwdOf(session.id),
            duration_ms: outcome.durationMs,
            timed_out: false,
            side_by_side: outcome.sideBySide,
            shell_reset: outcome.shellReset,
          });
        }
      } catch (error) {
        const apiError = toApiError(error, 'SESSION_NOT_FOUND');
        sse.send('error', { error: apiError.message, error_code: apiError.errorCode });
      } finally {
        keepAlive.stop();
        sse.end();
      }
    },
  },
];
