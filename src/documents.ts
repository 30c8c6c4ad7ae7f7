import * as vscode from 'vscode';
import { InspectSessionRequest, SessionLogsRequest } from '../sidecar/client/protocol';
import type { Ctx } from './ctx';
import { RunHistory } from './runHistory';

/**
 * The scheme of Sandkasten's read-only documents: `sandkasten-doc:/<what>/<sessionId>/<title>`
 * (`sandkasten:` is the workspace files' file system, see files/).
 */
const SCHEME = 'sandkasten-doc';
/** Session log pages read for one document, at most (the log itself is capped by logs.sessionKb). */
const MAX_LOG_PAGES = 64;

type DocumentKind = 'inspect' | 'logs' | 'output';

/**
 * Read-only editors for what a session shows but cannot be edited: the container's inspect
 * JSON, its logs (what background jobs printed between commands) and the last Run Command
 * outputs kept in this window. Read afresh each time one is opened.
 */
export class SessionDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly registration: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);
  }

  /** Opens one in a read-only editor; `title` names the tab (e.g. the workspace). */
  async open(kind: DocumentKind, sessionId: string, title: string): Promise<vscode.TextEditor> {
    const extension = kind === 'inspect' ? 'json' : 'log';
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${kind}/${sessionId}/${title}.${extension}`, query: String(Date.now()) });
    const document = await vscode.workspace.openTextDocument(uri);
    if (kind === 'inspect') await vscode.languages.setTextDocumentLanguage(document, 'json');
    return vscode.window.showTextDocument(document, { preview: true });
  }

  async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
    const [, kind, sessionId] = uri.path.split('/');
    switch (kind as DocumentKind) {
      case 'inspect': {
        const { container } = await this.ctx.request(InspectSessionRequest.type, { id: sessionId }, token);
        return `${JSON.stringify(container, null, 2)}\n`;
      }
      case 'logs':
        return this.sessionLog(sessionId, token);
      case 'output': {
        const records = this.ctx.runHistory.of(sessionId);
        return records.length > 0 ? records.map((record) => RunHistory.format(record)).join('') : 'No Run Command output of this session is kept in this window.\n';
      }
      default:
        return '';
    }
  }

  private async sessionLog(sessionId: string, token: vscode.CancellationToken): Promise<string> {
    let text = '';
    let offset: number | undefined;
    for (let page = 0; page < MAX_LOG_PAGES; page++) {
      const result = await this.ctx.request(SessionLogsRequest.type, { sessionId, offset }, token);
      if (page === 0 && result.droppedBytes > 0) text += `[${result.droppedBytes} older bytes were dropped; see sandkasten.logs.sessionKb]\n`;
      if (result.chunks.length === 0) break;
      text += result.chunks.map((chunk) => chunk.data).join('');
      offset = result.nextOffset;
    }
    return text === '' ? 'Nothing yet: background jobs of this session printed nothing between commands.\n' : text;
  }

  dispose(): void {
    this.registration.dispose();
  }
}
