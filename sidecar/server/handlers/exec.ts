import * as P from '../../client/protocol';
import type { OutputSink } from '../../exec/outputSink';
import { splitStdout } from '../../exec/outputSink';
import { CapturedOutput, StreamedOutput } from '../../exec/sinks';
import { RawChannelOutput } from '../../rawChannel/rawChannelOutput';
import { RawChannelStdin } from '../../rawChannel/rawChannelStdin';
import type { HandlerContext } from './context';

/**
 * exec/run: the handler picks where output goes — captured into the result, streamed as
 * exec/output notifications on this connection (the only place that sends them), and/or
 * stdout on a raw channel — and Exec runs the command into that sink.
 */
export function registerExecHandlers({ handle, flow, services }: HandlerContext): void {
  handle(P.ExecRequest, async (params, token) => {
    const { streamId, encoding, rawChannelId } = params;
    const captured = streamId === undefined ? new CapturedOutput(encoding) : undefined;
    const notified =
      streamId === undefined
        ? undefined
        : new StreamedOutput(
            {
              send: (stream, data) => flow.send(P.ExecOutputNotification.type, { streamId, stream, data }, data.length),
              get congested() {
                return flow.congested;
              },
              drained: () => flow.drained(),
            },
            encoding,
          );
    const sink: OutputSink = (captured ?? notified)!;
    const raw =
      rawChannelId === undefined
        ? undefined
        : new RawChannelOutput({ channels: services.rawChannels, pipes: services.pipes, clock: services.clock }, rawChannelId, (data) =>
            services.sessionLogs.append(params.sessionId, 'stdout', data),
          );
    const stdin = params.stdinChannelId === undefined ? undefined : new RawChannelStdin({ channels: services.rawChannels, engine: services.engine }, params.stdinChannelId);
    const outcome = await services.exec.run(params, raw ? splitStdout(raw, sink) : sink, token, stdin);
    return {
      ...outcome,
      stdout: captured?.text('stdout') ?? '',
      stderr: captured?.text('stderr') ?? '',
      droppedBytes: captured?.dropped ?? 0,
    };
  });
}
