import * as vscode from 'vscode';
import { imageReferenceProblem } from '../../sidecar/client/imageReference';
import { workspaceNameProblem } from '../../sidecar/client/ids';
import { GetConfigRequest, ListImagesRequest, PoolStatusRequest, WORKSPACE_KINDS, type WorkspaceKind } from '../../sidecar/client/protocol';
import { formatBytes } from '../../sidecar/client/units';
import type { Ctx } from '../ctx';

/** What the Create Workspace wizard asks for. */
export interface WorkspaceAnswers {
  name: string;
  kind: WorkspaceKind;
  allowHostNetwork: boolean;
  image: string;
}

type Step = 'name' | 'kind' | 'network' | 'image';
const TITLE = 'Create Workspace';
/** The kind chosen last time is preselected the next time. */
const LAST_KIND_KEY = 'sandkasten.lastKind';
const DEFAULT_KIND: WorkspaceKind = 'session';

const KIND_DETAILS: Record<WorkspaceKind, string> = {
  ephemeral: '$(warning) One-off runs: deleted with its files 5 minutes after its session ends; no network',
  session: 'Interactive work: kept while in use, expires after 24 hours idle',
  persistent: 'Long-lived projects: kept until 30 days without access; pin to keep forever',
  collaborative: 'Shared work: persistent, and can be shared with others',
};

/** Back was pressed: the wizard shows the previous step. */
const BACK = Symbol('back');
type Answer<T> = T | typeof BACK | undefined;

/**
 * The Create Workspace wizard: name, kind, network (not for ephemeral, which has none), image.
 * Each step shows its number and a Back button and keeps what was entered when going back
 * and forth; `start` reopens it at a step with earlier answers kept (after a failed create).
 * Resolves undefined when the person cancels.
 */
export async function askWorkspace(ctx: Ctx, start: { step?: Step; answers?: Partial<WorkspaceAnswers> } = {}): Promise<WorkspaceAnswers | undefined> {
  const answers: Partial<WorkspaceAnswers> = { kind: ctx.extension.globalState.get<WorkspaceKind>(LAST_KIND_KEY, DEFAULT_KIND), ...start.answers };
  const stepsFor = (kind: WorkspaceKind | undefined): Step[] => (kind === 'ephemeral' ? ['name', 'kind', 'image'] : ['name', 'kind', 'network', 'image']);
  let index = Math.max(0, stepsFor(answers.kind).indexOf(start.step ?? 'name'));
  for (;;) {
    const steps = stepsFor(answers.kind);
    if (index >= steps.length) break;
    const position = { step: index + 1, totalSteps: steps.length, back: index > 0 };
    const answer = await askStep(ctx, steps[index], answers, position);
    if (answer === undefined) return undefined;
    index = answer === BACK ? index - 1 : index + 1;
  }
  const { name, kind, image } = answers;
  if (name === undefined || kind === undefined || image === undefined) return undefined;
  void ctx.extension.globalState.update(LAST_KIND_KEY, kind);
  return { name, kind, image, allowHostNetwork: kind !== 'ephemeral' && answers.allowHostNetwork === true };
}

interface Position {
  step: number;
  totalSteps: number;
  back: boolean;
}

/** Asks one step, writing its answer into `answers`; true when answered. */
async function askStep(ctx: Ctx, step: Step, answers: Partial<WorkspaceAnswers>, position: Position): Promise<Answer<true>> {
  switch (step) {
    case 'name': {
      const name = await askText({
        ...position,
        title: `${TITLE}: name`,
        prompt: 'Lowercase letters, digits and hyphens, starting with a letter (at most 32). The id adds 8 hex digits.',
        placeholder: 'my-api',
        value: answers.name ?? '',
        validate: (value) => (value === '' ? 'A name is required.' : workspaceNameProblem(value)),
      });
      if (typeof name !== 'string') return name;
      answers.name = name;
      return true;
    }
    case 'kind': {
      const items = WORKSPACE_KINDS.map((kind) => ({ label: kind, description: kind === DEFAULT_KIND ? 'recommended' : undefined, detail: KIND_DETAILS[kind], workspaceKind: kind }));
      const picked = await askPick({ ...position, title: `${TITLE}: kind`, placeholder: 'How long it lives and what it may do', items, active: (item) => item.workspaceKind === answers.kind });
      if (typeof picked !== 'object') return picked;
      answers.kind = picked.workspaceKind;
      return true;
    }
    case 'network': {
      const sandboxNetwork = { label: 'Sandkasten network', description: 'recommended', detail: 'Outbound access; cannot reach other sandboxes or host services', host: false };
      const hostNetwork = { label: 'Host network', description: '$(warning) not isolated', detail: "Shares this machine's network: reaches every service on it, 127.0.0.1 included", host: true };
      for (;;) {
        const picked = await askPick({ ...position, title: `${TITLE}: network`, items: [sandboxNetwork, hostNetwork], active: (item) => item.host === (answers.allowHostNetwork ?? false) });
        if (typeof picked !== 'object') return picked;
        // The host's network needs a second, explicit yes that names the risk; no: ask again.
        if (!picked.host || (await confirmHostNetwork(answers.name ?? ''))) {
          answers.allowHostNetwork = picked.host;
          return true;
        }
      }
    }
    case 'image':
      return askImage(ctx, answers, position);
  }
}

async function confirmHostNetwork(name: string): Promise<boolean> {
  const answer = await vscode.window.showWarningMessage(
    `Give workspace "${name}" the host's network?`,
    {
      modal: true,
      detail:
        "Code in its sessions will reach every service on this machine — databases and dev servers on 127.0.0.1, this VS Code server, other users' services — as if it ran here. Choose it only for code you trust.",
    },
    'Use Host Network',
  );
  return answer === 'Use Host Network';
}

export interface ImageItem extends vscode.QuickPickItem {
  image?: string;
  enterName?: boolean;
}

/**
 * The image step: the default image, the pool's images, the engine's local images, then
 * "Enter image name…" (also where a typed name that matches nothing goes). The lists load
 * while the picker is open; without Docker only the default and "Enter image name…" remain.
 */
async function askImage(ctx: Ctx, answers: Partial<WorkspaceAnswers>, position: Position): Promise<Answer<true>> {
  const enterName: ImageItem = { label: '$(edit) Enter image name…', enterName: true, alwaysShow: true };
  const picker = vscode.window.createQuickPick<ImageItem>();
  const fill = (items: ImageItem[]) => {
    picker.items = [...items, { label: '', kind: vscode.QuickPickItemKind.Separator }, enterName];
    const current = picker.items.find((item) => item.image === (answers.image ?? items[0]?.image));
    if (current) picker.activeItems = [current];
    picker.busy = false;
  };
  // A list that failed to load still leaves "Enter image name…" to go on with.
  const load = imageChoices(ctx, answers.image).then(fill, () => fill([]));
  // Nothing to choose while the lists load, so an early Enter does not pick "Enter image name…".
  const picked = await runPick(picker, { ...position, title: `${TITLE}: image`, placeholder: 'The container image its sessions run (pulled when not local)', items: [], busy: true, acceptTyped: true }, load);
  if (typeof picked !== 'object') return picked;
  if (picked.item?.image) {
    answers.image = picked.item.image;
    return true;
  }
  // "Enter image name…", or a name typed into the filter: an input box, checked as Docker would.
  const typed = await askText({
    ...position,
    back: true,
    title: `${TITLE}: image`,
    prompt: 'An image reference, e.g. "python:3.12-slim" or "ghcr.io/owner/image:tag" (pulled when not local).',
    placeholder: 'debian:bookworm-slim',
    value: picked.typed || answers.image || '',
    validate: (value) => (value.trim() === '' ? 'An image is required.' : imageReferenceProblem(value.trim())),
  });
  if (typed === BACK) return askImage(ctx, answers, position);
  if (typed === undefined) return undefined;
  answers.image = typed.trim();
  return true;
}

/** Default first, then pool images, then local images (newest first), each once. */
export async function imageChoices(ctx: Ctx, current: string | undefined): Promise<ImageItem[]> {
  const [config, pool, local] = await Promise.all([
    ctx.request(GetConfigRequest.type, { key: 'defaultImage' }).catch(() => ({ defaultImage: '' })),
    ctx.request(PoolStatusRequest.type, {}).catch(() => undefined),
    ctx.request(ListImagesRequest.type, {}).catch(() => []),
  ]);
  const seen = new Set<string>();
  const items: ImageItem[] = [];
  const add = (image: string, description: string, detail?: string) => {
    if (image === '' || seen.has(image)) return;
    seen.add(image);
    items.push({ label: image, description, detail, image });
  };
  // The VS Code setting when set there: it wins over config.json, and the push that brings
  // it to a sidecar that just started may still be on its way.
  const defaultImage = String(ctx.config.explicitSidecarSettings(['defaultImage']).defaultImage ?? config.defaultImage ?? '');
  add(defaultImage, 'default (sandkasten.defaultImage)');
  if (current) add(current, 'entered before');
  for (const status of pool?.images ?? []) add(status.image, `warm pool · ${status.ready} ready`, 'Its first session starts instantly from the pool.');
  for (const image of local) add(image.reference, `local · ${formatBytes(image.sizeBytes)}`);
  return items;
}

interface StepUi {
  title: string;
  step: number;
  totalSteps: number;
  back: boolean;
  placeholder?: string;
}

function askText(options: StepUi & { prompt: string; value: string; validate: (value: string) => string | undefined }): Promise<Answer<string>> {
  const input = vscode.window.createInputBox();
  Object.assign(input, { title: options.title, step: options.step, totalSteps: options.totalSteps, prompt: options.prompt, placeholder: options.placeholder, value: options.value });
  input.buttons = options.back ? [vscode.QuickInputButtons.Back] : [];
  input.ignoreFocusOut = true;
  return new Promise((resolve) => {
    const finish = settle(input, resolve);
    input.onDidTriggerButton(() => finish(BACK));
    input.onDidChangeValue((value) => (input.validationMessage = value === '' ? undefined : options.validate(value)));
    input.onDidAccept(() => {
      const problem = options.validate(input.value);
      if (problem) input.validationMessage = problem;
      else finish(input.value);
    });
    input.onDidHide(() => finish(undefined));
    input.show();
  });
}

function askPick<T extends vscode.QuickPickItem>(options: StepUi & { items: T[]; active?: (item: T) => boolean }): Promise<Answer<T>> {
  const picker = vscode.window.createQuickPick<T>();
  return runPick(picker, options).then((picked) => (typeof picked === 'object' ? picked.item : picked));
}

/** Shows a step's quick pick; resolves with the item chosen, or the text typed when none matched. */
function runPick<T extends vscode.QuickPickItem>(
  picker: vscode.QuickPick<T>,
  options: StepUi & { items: T[]; active?: (item: T) => boolean; busy?: boolean; acceptTyped?: boolean },
  loading?: Promise<void>,
): Promise<Answer<{ item?: T; typed: string }>> {
  Object.assign(picker, { title: options.title, step: options.step, totalSteps: options.totalSteps, placeholder: options.placeholder, busy: options.busy ?? false });
  picker.items = options.items;
  const active = options.active && options.items.find(options.active);
  if (active) picker.activeItems = [active];
  picker.buttons = options.back ? [vscode.QuickInputButtons.Back] : [];
  picker.ignoreFocusOut = true;
  void loading?.catch(() => undefined);
  return new Promise((resolve) => {
    const finish = settle(picker, resolve);
    picker.onDidTriggerButton(() => finish(BACK));
    picker.onDidAccept(() => {
      const item = picker.selectedItems[0] ?? picker.activeItems[0];
      if (item || (options.acceptTyped && picker.value.trim() !== '')) finish({ item, typed: picker.value.trim() });
    });
    picker.onDidHide(() => finish(undefined));
    picker.show();
  });
}

/** Resolves once, then closes the input (its hide then resolves nothing more). */
function settle<A>(input: vscode.QuickInput, resolve: (answer: A) => void): (answer: A) => void {
  let settled = false;
  return (answer) => {
    if (settled) return;
    settled = true;
    resolve(answer);
    input.dispose();
  };
}
