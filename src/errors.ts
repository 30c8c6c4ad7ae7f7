import { ResponseError } from 'vscode-languageclient/node';
import { ErrorCode, errorCodeName, errorDetail } from '../sidecar/client/protocol';

/**
 * One sentence for a person. The sidecar's messages are already written for people; this adds
 * what to do for the codes where the UI has an action, and hides anything stack-like. `detail`
 * is the engine's raw message when the sidecar sent one (for the log, not the toast).
 */
export function describeError(error: unknown): { message: string; code?: string; detail?: string } {
  if (error instanceof ResponseError) {
    const code = errorCodeName(error.code);
    if (error.code === ErrorCode.RequestCancelled) return { message: 'Cancelled.', code };
    const detail = errorDetail(error);
    return { message: error.message, code, ...(detail ? { detail } : {}) };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split('\n')[0] };
}
