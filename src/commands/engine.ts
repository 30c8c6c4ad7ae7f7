import * as vscode from 'vscode';
import { dockerContextNames } from '../../sidecar/client/dockerContexts';
import { ENGINE_SETTING_KEYS, mismatchEngines, parseEndpoint, type EngineMismatch, type EngineSettingKey } from '../../sidecar/client/engineText';
import { SwitchEngineRequest, type SidecarStatus } from '../../sidecar/client/protocol';
import type { Ctx } from '../ctx';
import { engineAddressProblem, enginePicks, mismatchQuestion, pointBackOffer } from '../engineText';

/**
 * Asks what to do when the engine answering is not the one the storage directory belongs to:
 * on every status that reports it, once per pair of engines in this window, never in a loop.
 */
export class EngineMismatchPrompt implements vscode.Disposable {
  private readonly listener: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.listener = ctx.onDidReadStatus((status) => this.onStatus(status));
  }

  private onStatus(status: SidecarStatus): void {
    const { mismatch } = status.docker;
    if (!mismatch || !this.ctx.askedMismatches.firstTime(mismatch)) return;
    void this.ask(mismatch).catch((error) => this.ctx.showError(error, 'The Docker engine was not changed'));
  }

  private async ask(mismatch: EngineMismatch): Promise<void> {
    const question = mismatchQuestion(mismatch);
    const choice = await vscode.window.showWarningMessage(question.message, { modal: true, detail: question.detail }, question.switchButton, question.pointBackButton);
    if (choice === question.switchButton) await switchEngine(this.ctx, mismatch);
    else if (choice === question.pointBackButton) await pointBack(this.ctx, mismatch);
  }

  dispose(): void {
    this.listener.dispose();
  }
}

/** Moves the storage directory to the engine answering now; the sidecar restarts there. */
async function switchEngine(ctx: Ctx, mismatch: EngineMismatch): Promise<void> {
  await ctx.restartSidecar(`Sandkasten: switching to Docker engine ${mismatchEngines(mismatch).to.label}…`, () =>
    ctx.request(SwitchEngineRequest.type, { engineId: mismatch.current.id }),
  );
}

/**
 * Undoes what pointed Sandkasten at the other engine: the engine settings where they are set
 * (VS Code's user or workspace settings, or the sidecar's own from the CLI); else says which
 * variable or Docker context leads there, and offers the setting that wins over it.
 */
async function pointBack(ctx: Ctx, mismatch: EngineMismatch): Promise<void> {
  const setInVsCode = ENGINE_SETTING_KEYS.flatMap((key) => ctx.config.explicitScopes(key).map((target) => ({ key, target })));
  if (setInVsCode.length > 0 || parseEndpoint(mismatch.current.endpoint).source.kind === 'setting') {
    await ctx.changeEngineSettings(async () => {
      for (const { key, target } of setInVsCode) await ctx.config.update(key, undefined, target);
    });
    return;
  }
  const offer = pointBackOffer(mismatch);
  const choice = await vscode.window.showInformationMessage(offer.message, { modal: true, detail: offer.detail }, ...(offer.button ? [offer.button] : []));
  if (choice && offer.change) await setEngineSettings(ctx, { [offer.change.key]: offer.change.value });
}

/** Sandkasten: Choose Docker Engine… — the environment's default, a Docker context or an address, in the user settings. */
export async function chooseEngine(ctx: Ctx): Promise<void> {
  const docker = ctx.status?.docker;
  const picked = await vscode.window.showQuickPick(enginePicks(docker, dockerContextNames()), {
    title: 'Choose Docker Engine',
    placeHolder: docker ? `Sandkasten uses ${docker.endpoint}` : 'The Docker engine Sandkasten runs its sandboxes on',
  });
  if (!picked) return;
  const { choice } = picked;
  // A new choice: where it leads to another engine than the storage directory's, the question comes again.
  ctx.askedMismatches.clear();
  if (choice.kind === 'switch') {
    if (docker?.mismatch) await switchEngine(ctx, docker.mismatch);
  } else if (choice.kind === 'default') {
    await setEngineSettings(ctx, { 'docker.host': undefined, 'docker.context': undefined });
  } else if (choice.kind === 'context') {
    // docker.host wins over a context: cleared with it.
    await setEngineSettings(ctx, { 'docker.host': undefined, 'docker.context': choice.name });
  } else {
    const address = await vscode.window.showInputBox({
      title: 'Docker Engine Address',
      prompt: 'As DOCKER_HOST takes it: ssh:// uses your ssh (agent, config, known hosts), tcp:// uses TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.',
      placeHolder: 'ssh://me@build-box',
      value: docker ? parseEndpoint(docker.endpoint).address : undefined,
      validateInput: engineAddressProblem,
    });
    if (address !== undefined) await setEngineSettings(ctx, { 'docker.host': address.trim() });
  }
}

/** Writes engine settings to the user settings in one step (the sidecar restarts once); a workspace value that overrides them is pointed out. */
async function setEngineSettings(ctx: Ctx, values: Partial<Record<EngineSettingKey, string | undefined>>): Promise<void> {
  const keys = Object.keys(values) as EngineSettingKey[];
  await ctx.changeEngineSettings(async () => {
    for (const key of keys) await ctx.config.update(key, values[key], vscode.ConfigurationTarget.Global);
  });
  const overridden = keys.filter((key) => ctx.config.explicitScopes(key).includes(vscode.ConfigurationTarget.Workspace));
  if (overridden.length > 0) {
    void vscode.window.showWarningMessage(
      `This workspace's settings set ${overridden.map((key) => `sandkasten.${key}`).join(' and ')}, which win over your user settings: change ${overridden.length > 1 ? 'them' : 'it'} there.`,
    );
  }
}
