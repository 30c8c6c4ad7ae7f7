/**
 * `sandkasten exec --background`, `ps`, `process output|kill|wait` and `logs`: background
 * processes and a session's background output, for scripts and agents (--json) and people.
 */
import type { SidecarClient } from '../sidecar/client/sidecarClient';
import * as P from '../sidecar/client/protocol';
import { formatTable, print, UsageError } from './format';

/** How long one follow request waits for output before asking again. */
const FOLLOW_WAIT_MS = 30_000;

export interface ProcessOptions {
  json: boolean;
  follow: boolean;
  signal?: string;
  timeoutSeconds?: number;
}

const SIGNALS = ['INT', 'TERM', 'KILL'] as const;

export async function startBackground(client: SidecarClient, sessionId: string, command: string[], options: ProcessOptions): Promise<number> {
  const started = await client.request(P.StartProcessRequest.type, { sessionId, command });
  print(options.json ? JSON.stringify(started, null, 2) : started.id);
  return 0;
}

export async function runProcessCommand(client: SidecarClient, command: string, args: string[], options: ProcessOptions): Promise<number> {
  const one = (what: string) => {
    if (args.length !== 1) throw new UsageError(`${command} takes exactly one ${what}.`);
    return args[0];
  };
  switch (command) {
    case 'ps': {
      if (args.length > 1) throw new UsageError('ps takes at most one SESSION_ID.');
      const processes = await client.request(P.ListProcessesRequest.type, { sessionId: args[0] });
      print(
        options.json
          ? JSON.stringify(processes, null, 2)
          : formatTable(
              ['ID', 'SESSION', 'STATE', 'EXIT', 'STARTED', 'COMMAND'],
              processes.map((p) => [p.id, p.sessionId, p.state, p.exitCode === null ? '-' : String(p.exitCode), p.startedAt, p.command]),
            ),
      );
      return 0;
    }
    case 'process output': {
      const processId = one('PROCESS_ID');
      // Followed until the process exited and nothing more came.
      return follow(options.follow, async (query) => {
        const page = await client.request(P.ProcessOutputRequest.type, { processId, ...query });
        return { page, over: page.process.state === 'exited' && page.chunks.length === 0 };
      });
    }
    case 'logs': {
      const sessionId = one('SESSION_ID');
      // A session's log has no end: followed until interrupted.
      return follow(options.follow, async (query) => ({ page: await client.request(P.SessionLogsRequest.type, { sessionId, ...query }), over: false }));
    }
    case 'process kill': {
      const signal = options.signal?.toUpperCase().replace(/^SIG/, '');
      if (signal !== undefined && !SIGNALS.includes(signal as (typeof SIGNALS)[number])) throw new UsageError(`--signal takes one of ${SIGNALS.join(', ')}.`);
      const info = await client.request(P.SignalProcessRequest.type, { processId: one('PROCESS_ID'), signal: signal as (typeof SIGNALS)[number] | undefined });
      print(options.json ? JSON.stringify(info, null, 2) : `${info.id} is ${info.state}`);
      return 0;
    }
    case 'process wait': {
      const info = await client.request(P.WaitProcessRequest.type, {
        processId: one('PROCESS_ID'),
        timeoutMs: options.timeoutSeconds ? Math.round(options.timeoutSeconds * 1000) : undefined,
      });
      print(options.json ? JSON.stringify(info, null, 2) : `${info.id} ${info.state}${info.exitCode === null ? '' : ` with exit code ${info.exitCode}`}`);
      // Exits with the process's code, as `wait` in a shell does; 124 when it still runs (like timeout(1)).
      return info.exitCode ?? 124;
    }
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

/** Writes out pages of output; with `following`, asks for what comes next (long poll) until `over`. */
async function follow(following: boolean, read: (query: P.OutputQuery) => Promise<{ page: P.OutputPage; over: boolean }>): Promise<number> {
  let offset: number | undefined;
  for (;;) {
    const { page, over } = await read({ offset, waitMs: following ? FOLLOW_WAIT_MS : undefined, encoding: 'base64' });
    await writePage(page);
    offset = page.nextOffset;
    if (!following || over) return 0;
  }
}

/** A page's chunks to stdout and stderr as they came, waiting for a slow reader. */
async function writePage(page: P.OutputPage): Promise<void> {
  if (page.droppedBytes > 0) process.stderr.write(`sandkasten: ${page.droppedBytes} bytes of older output were dropped (see the logs.sessionKb setting)\n`);
  for (const chunk of page.chunks) {
    const stream = chunk.stream === 'stderr' ? process.stderr : process.stdout;
    if (!stream.write(Buffer.from(chunk.data, 'base64'))) await new Promise((resolve) => stream.once('drain', resolve));
  }
}

