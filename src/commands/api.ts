import * as vscode from 'vscode';
import { ApiInfoRequest, SetConfigRequest } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';

/**
 * Copy API Endpoint and Token: both on the clipboard as the environment an agent or SDK reads
 * (`SANDKASTEN_BASE_URL`, `SANDKASTEN_API_KEY`). When the API is off, it offers to turn it on
 * (the sidecar's setting, as `sandkasten config set api.enabled true` does).
 */
export async function copyApiEndpoint(ctx: Ctx): Promise<void> {
  let info = await ctx.request(ApiInfoRequest.type, {});
  if (!info.enabled) {
    const choice = await vscode.window.showInformationMessage(
      'The HTTP API for agents is off. Turn it on?',
      { modal: true, detail: 'It listens on 127.0.0.1 only, and every request needs the token that is copied with the address. Anyone with the token controls your sandboxes.' },
      'Turn On and Copy',
    );
    if (choice !== 'Turn On and Copy') return;
    await ctx.request(SetConfigRequest.type, { values: { 'api.enabled': true } });
    info = await ctx.request(ApiInfoRequest.type, {});
  }
  if (!info.url) {
    void ctx.showError(new Error(`The HTTP API is on but not listening${info.error ? `: ${info.error}` : ''}.`));
    return;
  }
  await vscode.env.clipboard.writeText(`SANDKASTEN_BASE_URL=${info.url}\nSANDKASTEN_API_KEY=${info.token}\n`);
  const message = `Copied the API endpoint ${info.url} and its token (a secret: it controls your sandboxes).`;
  if (info.warning) void vscode.window.showWarningMessage(`${message} ${info.warning}`);
  else void vscode.window.showInformationMessage(message);
}
