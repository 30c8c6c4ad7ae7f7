import type { SandkastenErrorCode, SandkastenError as SandkastenErrorShape } from '../../api/sandkasten';
import { ErrorCode, errorCodeName, errorDetail } from '../../sidecar/client/protocol';

/**
 * JSON-RPC's codes for a connection that closed or broke under a request (vscode-jsonrpc:
 * MessageWriteError, MessageReadError, PendingResponseRejected, ConnectionInactive).
 */
const CONNECTION_LOST_CODES = new Set([-32099, -32098, -32097, -32096]);

/** What the extension API's promises reject with (declared in api/sandkasten.d.ts). */
export class SandkastenApiError extends Error implements SandkastenErrorShape {
  override readonly name = 'SandkastenError';

  constructor(
    readonly code: SandkastenErrorCode,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

/**
 * The error an API caller sees for anything a request failed with: the sidecar's code and
 * sentence (and the engine's detail) as they came; a lost or never made connection as
 * 'SidecarUnavailable'; any other response as 'Internal', keeping its message.
 * ResponseError is recognised by its shape (a numeric code), since the language client and
 * the protocol package may each carry their own copy of the class.
 */
export function toSandkastenError(error: unknown): SandkastenApiError {
  if (error instanceof SandkastenApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code: unknown = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code !== 'number') return new SandkastenApiError('SidecarUnavailable', `The Sandkasten sidecar is not reachable: ${firstLine(message)}`);
  if (code === ErrorCode.RequestCancelled) return new SandkastenApiError('RequestCancelled', 'The request was cancelled.');
  const name = errorCodeName(code);
  if (name) return new SandkastenApiError(name, message, errorDetail(error));
  if (CONNECTION_LOST_CODES.has(code)) return new SandkastenApiError('SidecarUnavailable', `The connection to the Sandkasten sidecar was lost: ${firstLine(message)}`);
  return new SandkastenApiError('Internal', firstLine(message));
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}
