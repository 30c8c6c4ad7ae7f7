import * as vscode from 'vscode';
import { homePaths } from '../../sidecar/client/home';
import { unreachableSidecarReport } from '../../sidecar/client/localDiagnosis';
import { DoctorRequest, type DoctorReport } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { describeError } from '../errors';
import { diagnosticsMarkdown } from './diagnosticsMarkdown';

/** The scheme of the read-only report (`sandkasten-diagnostics:/Sandkasten Diagnostics.md?<n>`). */
const SCHEME = 'sandkasten-diagnostics';

/**
 * Run Diagnostics: the same checks as `sandkasten doctor`, shown as a Markdown report (its
 * preview) with a notification that sums it up. Works when the sidecar cannot reach Docker,
 * and when there is no sidecar at all: then the report says why, as the CLI's does.
 */
export async function runDiagnostics(ctx: Ctx): Promise<void> {
  const report = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Sandkasten: running diagnostics…' }, async () => {
    try {
      return await ctx.request(DoctorRequest.type, {});
    } catch (error) {
      return unreachableSidecarReport(homePaths(ctx.home), describeError(error).message);
    }
  });
  const { fail, warn } = report.summary;
  ctx.output.info(`Diagnostics: ${report.checks.map((check) => `${check.id} ${check.status}`).join(', ')}`);
  await diagnosticsDocuments(ctx).show(report);
  const problems = fail + warn;
  const summary =
    problems === 0
      ? `Sandkasten diagnostics: all ${report.summary.pass} checks passed.`
      : `Sandkasten diagnostics: ${problems} problem${problems === 1 ? '' : 's'} found (${fail} failed, ${warn} warning${warn === 1 ? '' : 's'}).`;
  const show = (message: string) =>
    fail > 0 ? vscode.window.showErrorMessage(message, 'Show Report') : warn > 0 ? vscode.window.showWarningMessage(message, 'Show Report') : vscode.window.showInformationMessage(message, 'Show Report');
  // Not awaited: the command is done once the report shows; the notification may sit in the centre.
  void show(summary).then((choice) => (choice === 'Show Report' ? diagnosticsDocuments(ctx).show(report) : undefined));
}

/** The read-only documents the reports are shown in; one provider per extension context. */
class DiagnosticsDocuments implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private shown = 0;

  constructor(private readonly ctx: Ctx) {
    ctx.pushExtensionCleanup(vscode.workspace.registerTextDocumentContentProvider(SCHEME, this));
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? 'This report is no longer kept: run Sandkasten: Run Diagnostics again.\n';
  }

  /** Opens the report's Markdown preview (its text in an editor where there is no preview). */
  async show(report: DoctorReport): Promise<void> {
    // A new query each time: the editor shows this report, not a cached earlier one.
    const uri = vscode.Uri.from({ scheme: SCHEME, path: '/Sandkasten Diagnostics.md', query: String(++this.shown) });
    this.contents.clear();
    this.contents.set(uri.toString(), diagnosticsMarkdown(report, this.ctx.home));
    try {
      await vscode.commands.executeCommand('markdown.showPreview', uri);
    } catch {
      const document = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(document, { preview: true });
    }
  }
}

const documentsByContext = new WeakMap<Ctx, DiagnosticsDocuments>();

function diagnosticsDocuments(ctx: Ctx): DiagnosticsDocuments {
  let documents = documentsByContext.get(ctx);
  if (!documents) {
    documents = new DiagnosticsDocuments(ctx);
    documentsByContext.set(ctx, documents);
  }
  return documents;
}
