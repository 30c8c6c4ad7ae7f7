import { ResponseError } from 'vscode-languageclient/node';
import { ErrorCode, errorCodeName } from '../sidecar/client/protocol';

/**
 * One sentence for a person. The sidecar's messages are already written for people; this adds
 * what to do for the codes where the UI has an action, and hides anything stack-like.
 */
export function describeError(error: unknown): { message: string; code?: string } {
  if (error instanceof ResponseError) {
    const code = errorCodeName(error.code);
    if (error.code === ErrorCode.RequestCancelled) return { message: 'Cancelled.', code };
    return { message: error.message, code };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split('\n')[0] };
}
