/**
 * A page object for the VS Code workbench that code-server serves, driven through Chromium by
 * playwright-core the way a person would: the activity bar, F1 and typed command titles, input
 * boxes, quick picks, tree items with their inline actions and context menus, notifications,
 * dialogs, the Output panel, reloading the window.
 */
import type { Locator, Page } from 'playwright-core';
import { eventually, exactly, LIMITS } from './support';

/** What a tree row shows: its label and its description. */
export interface TreeRow {
  label: string;
  description: string;
}

/** A terminal of the panel: shown or not, focused or not, and its rendered lines. */
export interface TerminalView {
  visible: boolean;
  focused: boolean;
  lines: string[];
}

/**
 * The VS Code workbench in the page. Every action goes through what is visible: the keyboard
 * (F1, typing, Enter), clicks on rows, buttons and menu entries, hovering for inline actions.
 */
export class Workbench {
  constructor(readonly page: Page) {}

  // --- readiness and the activity bar -------------------------------------------------------

  /** The Sandkasten icon in the activity bar (contributed by the extension). */
  get activityIcon(): Locator {
    return this.page.locator('.activitybar a.action-label[aria-label^="Sandkasten"]');
  }

  /** Waits for the workbench and for the extension's icon in the activity bar. */
  async waitUntilLoaded(): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: LIMITS.workbenchMs });
    await this.activityIcon.waitFor({ state: 'visible', timeout: LIMITS.workbenchMs });
  }

  /** Shows the Sandkasten views; clicking the icon of the open container would close it. */
  async openSandkasten(): Promise<void> {
    const tab = this.page.locator('.activitybar li.action-item', { has: this.page.locator('a.action-label[aria-label^="Sandkasten"]') });
    const sideBar = this.page.locator('.part.sidebar');
    // Like a person: look, click the icon only when the side bar does not show Sandkasten, and
    // give the workbench a moment to react. While a window restores, the container can be
    // selected before its views render; clicking then would hide the side bar again, so a
    // selected container in a visible side bar is waited for, not clicked.
    let lastClick = 0;
    await eventually(
      'the side bar to show the Sandkasten views',
      async () => {
        if (await this.view('Workspaces').isVisible()) return true;
        const selected = (await tab.getAttribute('aria-selected')) === 'true';
        if ((!selected || !(await sideBar.isVisible())) && Date.now() - lastClick > 2000) {
          await this.activityIcon.click();
          lastClick = Date.now();
        }
        return undefined;
      },
      { describe: async () => `container selected: ${await tab.getAttribute('aria-selected')}, side bar visible: ${await sideBar.isVisible()}` },
    );
    await this.view('Sessions').waitFor({ state: 'visible', timeout: LIMITS.uiMs });
  }

  /** The status bar item showing Restricted Mode (an untrusted folder). */
  get restrictedModeIndicator(): Locator {
    return this.page.locator('.statusbar-item', { hasText: 'Restricted Mode' });
  }

  // --- the command palette, input boxes and quick picks ---------------------------------------

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** A row of the open quick pick (or palette) whose label is exactly `label`. */
  quickPickRow(label: string): Locator {
    return this.quickInput
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) })
      .first();
  }

  private async closeQuickInputIfOpen(): Promise<void> {
    if (await this.quickInput.isVisible()) {
      await this.page.keyboard.press('Escape');
      await this.quickInput.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
    }
  }

  /**
   * F1, type the command's exact title, and choose the row with exactly that label (Enter on
   * a fuzzy list would run whatever ranks first).
   */
  async runCommand(title: string): Promise<void> {
    await this.closeQuickInputIfOpen();
    await this.page.keyboard.press('F1');
    const input = this.quickInput.locator('input.input');
    await input.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await this.page.keyboard.type(title);
    const row = this.quickPickRow(title);
    await eventually(`the command palette to offer "${title}"`, async () => ((await row.isVisible()) ? true : undefined), {
      describe: () => this.quickPickLabels().then((labels) => JSON.stringify(labels)),
    });
    await row.click();
  }

  /** The labels the open quick pick lists. */
  async quickPickLabels(): Promise<string[]> {
    return this.quickInput.locator('.monaco-list-row .label-name').allTextContents();
  }

  /** Waits for an input box or quick pick whose title contains `title`. */
  async waitForQuickInput(title: string | RegExp): Promise<void> {
    await this.quickInput
      .locator('.quick-input-title', { hasText: title })
      .waitFor({ state: 'visible', timeout: LIMITS.uiMs })
      .catch(async (error: Error) => {
        const shown = (await this.quickInput.isVisible()) ? await this.quickInput.locator('.quick-input-title').textContent() : '(no input is open)';
        throw new Error(`no input titled ${String(title)} appeared (shown: ${shown}): ${error.message.split('\n')[0]}`);
      });
  }

  /** The value currently in the open input box. */
  async inputValue(): Promise<string> {
    return this.quickInput.locator('input.input').inputValue();
  }

  /** Types `text` into the input box titled `title` (replacing what is there) and presses Enter. */
  async answerInput(title: string | RegExp, text: string): Promise<void> {
    await this.waitForQuickInput(title);
    const input = this.quickInput.locator('input.input');
    await input.focus();
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.type(text);
    await eventually(`the input box to hold "${text}"`, async () => ((await this.inputValue()) === text ? true : undefined));
    await this.page.keyboard.press('Enter');
  }

  /** Accepts the value the input box titled `title` proposes (Enter), returning that value. */
  async acceptInput(title: string | RegExp): Promise<string> {
    await this.waitForQuickInput(title);
    const value = await this.inputValue();
    await this.page.keyboard.press('Enter');
    return value;
  }

  /** Clicks the item labelled exactly `label` in the quick pick titled `title`. */
  async pick(title: string | RegExp, label: string): Promise<void> {
    await this.waitForQuickInput(title);
    const row = this.quickPickRow(label);
    await eventually(`the quick pick to offer "${label}"`, async () => ((await row.isVisible()) ? true : undefined), {
      describe: () => this.quickPickLabels().then((labels) => JSON.stringify(labels)),
    });
    await row.click();
  }

  /** The title the open input shows, its step counter included ("… (2/4)"); '' when none is open. */
  async quickInputTitle(): Promise<string> {
    if (!(await this.quickInput.isVisible())) return '';
    return ((await this.quickInput.locator('.quick-input-title').textContent()) ?? '').trim();
  }

  /** Label and description of every row the open quick pick shows, top to bottom (not their details, whose hidden labels may be stale). */
  async quickPickRows(): Promise<TreeRow[]> {
    return this.quickInput.locator('.monaco-list-row').evaluateAll(rowsTopToBottom);
  }

  /** The label of the quick pick's active row, the one Enter chooses ('' when none is). */
  async activeQuickPickLabel(): Promise<string> {
    const labels = await this.quickInput.locator('.monaco-list-row.focused .label-name').allTextContents();
    return labels[0]?.trim() ?? '';
  }

  /** Waits for the quick pick titled `title` with the row labelled exactly `label` active. */
  async waitForActiveQuickPickRow(title: string | RegExp, label: string): Promise<void> {
    await this.waitForQuickInput(title);
    await eventually(`the row "${label}" to be active in the quick pick ${String(title)}`, async () => ((await this.activeQuickPickLabel()) === label ? true : undefined), {
      describe: async () => `title "${await this.quickInputTitle()}", active "${await this.activeQuickPickLabel()}", rows ${JSON.stringify(await this.quickPickLabels())}`,
    });
  }

  /** The Back button in the open input's title bar (VS Code's QuickInputButtons.Back; its label adds the keybinding). */
  get backButton(): Locator {
    return this.quickInput.locator('.quick-input-titlebar a.action-label[aria-label^="Back"]');
  }

  /** Clicks the Back button of the open input titled `title`. */
  async clickBack(title: string | RegExp): Promise<void> {
    await this.waitForQuickInput(title);
    await this.backButton.click({ timeout: LIMITS.uiMs });
  }

  // --- the keyboard alone ------------------------------------------------------------------

  /** What has the keyboard focus: the focused element's aria-label, else its text (trimmed). */
  async focusedElementText(): Promise<string> {
    return this.page.evaluate(() => {
      const active = (globalThis as unknown as { document: { activeElement: { getAttribute(name: string): string | null; textContent: string | null } | null } }).document.activeElement;
      return (active?.getAttribute('aria-label') ?? active?.textContent ?? '').trim();
    });
  }

  /**
   * The mouse-button events the page saw since it loaded (from the event log CodeServerSuite
   * keeps for failure artifacts): empty when only the keyboard was used.
   */
  async pointerEvents(): Promise<string[]> {
    const events = await this.page.evaluate(() => (globalThis as unknown as { __sandkastenEvents?: string[] }).__sandkastenEvents ?? []);
    return events.filter((event) => / (mousedown|mouseup|contextmenu) /.test(event));
  }

  /**
   * F1, the command's exact title typed, and Enter once the row labelled exactly that is active
   * (arrowing down to it when the fuzzy match ranks another first). No mouse.
   */
  async runCommandWithKeyboard(title: string): Promise<void> {
    if (await this.quickInput.isVisible()) {
      await this.page.keyboard.press('Escape');
      await this.quickInput.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
    }
    await this.page.keyboard.press('F1');
    await this.quickInput.locator('input.input').waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await this.page.keyboard.type(title);
    await this.arrowToActiveRow(title, `the command palette to offer "${title}"`);
    await this.page.keyboard.press('Enter');
  }

  /** In the open quick pick titled `title`: types `filter`, arrows to the row labelled `label`, Enter. */
  async pickWithKeyboard(title: string | RegExp, label: string, filter = label): Promise<void> {
    await this.waitForQuickInput(title);
    await this.page.keyboard.type(filter);
    await this.arrowToActiveRow(label, `the quick pick ${String(title)} to offer "${label}"`);
    await this.page.keyboard.press('Enter');
  }

  /** Presses Down until the active row of the open quick pick is labelled exactly `label`. */
  private async arrowToActiveRow(label: string, what: string): Promise<void> {
    await eventually(`${what} (active)`, async () => {
      if (!(await this.quickPickRow(label).isVisible())) return undefined;
      if ((await this.activeQuickPickLabel()) === label) return true;
      await this.page.keyboard.press('ArrowDown');
      return undefined;
    }, { describe: async () => `active "${await this.activeQuickPickLabel()}", rows ${JSON.stringify(await this.quickPickLabels())}` });
  }

  /** Tabs through the open dialog until its button labelled `label` has the focus, then Enter. */
  async pressDialogButtonWithKeyboard(label: string): Promise<void> {
    await this.dialog.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await eventually(`the dialog's button "${label}" to have the focus`, async () => {
      if ((await this.focusedElementText()) === label) return true;
      await this.page.keyboard.press('Tab');
      return undefined;
    }, { describe: async () => `the focus is on "${await this.focusedElementText()}"` });
    await this.page.keyboard.press('Enter');
    await this.dialog.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
  }

  // --- views and tree items -------------------------------------------------------------------

  /** A view (pane) of the side bar by its name, e.g. "Workspaces". */
  view(name: string): Locator {
    return this.page.locator('.pane').filter({ has: this.page.locator('.pane-header h3.title', { hasText: exactly(name) }) });
  }

  /** The welcome content a view shows when its tree is empty. */
  welcome(viewName: string): Locator {
    return this.view(viewName).locator('.welcome-view-content');
  }

  /** Label and description of every row the view's tree shows, top to bottom. */
  async treeRows(viewName: string): Promise<TreeRow[]> {
    return this.view(viewName).locator('[role=treeitem]').evaluateAll(rowsTopToBottom);
  }

  /** The rows of a view, for failure messages: `label — description` each. */
  async describeView(viewName: string): Promise<string> {
    const rows = await this.treeRows(viewName);
    if (rows.length > 0) return `${viewName}: ${JSON.stringify(rows.map((r) => `${r.label} — ${r.description}`))}`;
    const welcome = (await this.welcome(viewName).allTextContents()).join(' ').trim();
    return `${viewName}: no rows${welcome ? `; welcome: "${welcome}"` : ''}`;
  }

  /** The tree row of a view whose label is exactly `label` (optionally: whose description matches). */
  treeItem(viewName: string, label: string | RegExp, description?: RegExp): Locator {
    let rows = this.view(viewName)
      .locator('[role=treeitem]')
      .filter({ has: this.page.locator('.label-name', { hasText: typeof label === 'string' ? exactly(label) : label }) });
    if (description) rows = rows.filter({ has: this.page.locator('.label-description', { hasText: description }) });
    return rows.first();
  }

  /** Waits until the view lists a row like that; returns what the row shows. */
  async waitForTreeItem(viewName: string, label: string | RegExp, description?: RegExp, limitMs = LIMITS.uiMs): Promise<TreeRow> {
    const item = this.treeItem(viewName, label, description);
    return eventually(
      `the ${viewName} view to list ${String(label)}${description ? ` with a description matching ${description}` : ''}`,
      async () => {
        if (!(await item.isVisible())) return undefined;
        return {
          label: (await item.locator('.label-name').textContent())?.trim() ?? '',
          description: (await item.locator('.label-description').textContent())?.trim() ?? '',
        };
      },
      { limitMs, describe: () => this.describeView(viewName) },
    );
  }

  /** Expands the row like a person, by its twistie, when it is collapsed; waits until it is expanded. */
  async expandTreeItem(item: Locator): Promise<void> {
    await eventually(
      'the row to expand',
      async () => {
        const expanded = await item.getAttribute('aria-expanded', { timeout: 5000 });
        if (expanded === 'true') return true;
        if (expanded === 'false') await item.locator('.monaco-tl-twistie').click({ timeout: 5000 });
        return undefined;
      },
      { describe: async () => `aria-expanded ${await item.getAttribute('aria-expanded').catch(() => '?')}` },
    );
  }

  /** Waits until the view no longer lists a row labelled `label`. */
  async waitForNoTreeItem(viewName: string, label: string | RegExp, limitMs = LIMITS.uiMs): Promise<void> {
    const item = this.treeItem(viewName, label);
    await eventually(`the ${viewName} view to stop listing ${String(label)}`, async () => ((await item.count()) === 0 ? true : undefined), {
      limitMs,
      describe: () => this.describeView(viewName),
    });
  }

  /** Hovers the row and clicks its inline action titled `title` (as its tooltip says). */
  async clickInlineAction(item: Locator, title: string): Promise<void> {
    const action = item.locator(`.actions a.action-label[aria-label="${title}"]`);
    // Inline actions show on hover; a tree refresh re-renders the row, so hover again then.
    await eventually(
      `the inline action "${title}"`,
      async () => {
        await item.hover({ timeout: 5000 });
        await action.click({ timeout: 3000 });
        return true;
      },
      { describe: async () => `the row offers ${JSON.stringify(await this.inlineActions(item).catch(() => []))}` },
    );
  }

  /** The labels of the inline actions a row offers (shown on hover). */
  async inlineActions(item: Locator): Promise<string[]> {
    await item.hover();
    return item.locator('.actions a.action-label').evaluateAll((links) => links.map((link) => link.getAttribute('aria-label') ?? ''));
  }

  /** What a screen reader says for the row: its aria-label (the TreeItem's accessibilityInformation). */
  async treeItemAccessibleLabel(item: Locator): Promise<string> {
    return ((await item.getAttribute('aria-label', { timeout: LIMITS.uiMs })) ?? '').trim();
  }

  /** The codicon the row shows as its icon ("snowflake" for `$(snowflake)`); '' when it shows none. */
  async treeItemIcon(item: Locator): Promise<string> {
    const classes = (await item.locator('.custom-view-tree-node-item-icon').first().getAttribute('class', { timeout: LIMITS.uiMs })) ?? '';
    return classes.split(/\s+/).find((name) => name.startsWith('codicon-'))?.slice('codicon-'.length) ?? '';
  }

  /** Whether the row is selected (as a click or a reveal leaves it). */
  async isTreeItemSelected(item: Locator): Promise<boolean> {
    return (await item.getAttribute('aria-selected', { timeout: LIMITS.uiMs })) === 'true';
  }

  /**
   * The text of the row's tooltip, as hovering its label shows it (the workbench's hover
   * widget). Moves the mouse away first so an earlier hover does not answer.
   */
  async treeItemTooltip(item: Locator, expected: RegExp = /\S/): Promise<string> {
    const hover = this.page.locator('.workbench-hover, .monaco-hover').filter({ visible: true });
    return eventually(
      `the row's tooltip to show text matching ${expected}`,
      async () => {
        await this.page.mouse.move(0, 0);
        await item.locator('.label-name').hover({ timeout: 5000 });
        await hover.first().waitFor({ state: 'visible', timeout: 5000 });
        const text = (await hover.allTextContents()).join('\n').replace(/\u00a0/g, ' ');
        return expected.test(text) ? text : undefined;
      },
      { describe: async () => JSON.stringify(await hover.allTextContents().catch(() => [])) },
    );
  }

  /** Chooses `entry` from the view's "More Actions..." (`…`) menu in its title bar. */
  async chooseFromViewMenu(viewName: string, entry: string): Promise<void> {
    const view = this.view(viewName);
    const more = view.locator('.pane-header .actions a.action-label[aria-label$="More Actions..."]').first();
    const menuItem = this.menu.locator('a.action-menu-item').filter({ has: this.page.locator(`.action-label[aria-label="${entry}"]`) });
    await this.chooseMenuEntry(
      `the "More Actions..." menu of the ${viewName} view to offer "${entry}" and take the click`,
      async () => {
        // The title bar's actions show while the pane is hovered.
        await view.locator('.pane-header').hover({ timeout: 5000 });
        await more.click({ timeout: 5000 });
      },
      menuItem,
    );
  }

  /** Right-clicks the row and chooses `entry` from its context menu. */
  async chooseFromContextMenu(item: Locator, entry: string): Promise<void> {
    const menuItem = this.menu.locator('a.action-menu-item').filter({ has: this.page.locator(`.action-label[aria-label="${entry}"]`) });
    await this.chooseMenuEntry(`the context menu to offer "${entry}" and take the click`, () => item.click({ button: 'right' }), menuItem);
  }

  private get menu(): Locator {
    return this.page.locator('.context-view .monaco-menu');
  }

  /**
   * Opens a menu (`open`) and clicks `entry` in it. VS Code's menus ignore mouse-ups during
   * the first 100 ms after they render (so releasing the right button cannot pick an entry);
   * a click that fast (no person is) leaves the menu open and runs nothing. So: click, and
   * when the menu is still open, click again. A tree refresh can also close the menu before
   * the click: then open it again.
   */
  private async chooseMenuEntry(what: string, open: () => Promise<void>, entry: Locator): Promise<void> {
    const menu = this.menu;
    let clicked = false;
    await eventually(
      what,
      async () => {
        if (!(await menu.isVisible())) {
          if (clicked) return true; // the click was taken and closed the menu
          await open();
          await menu.waitFor({ state: 'visible', timeout: 5000 });
        }
        await entry.waitFor({ state: 'visible', timeout: 2000 });
        await entry.hover({ timeout: 5000 });
        await entry.click({ timeout: 5000 });
        clicked = true;
        await menu.waitFor({ state: 'hidden', timeout: 2000 });
        return true;
      },
      { describe: async () => `menu entries ${JSON.stringify(await menu.locator('a.action-menu-item .action-label').allTextContents())}` },
    );
  }

  /** The entries of the row's context menu (right-click), in order; closes it again (Escape). */
  async contextMenuEntries(item: Locator): Promise<string[]> {
    const menu = this.menu;
    const entries = await eventually('the context menu to open', async () => {
      if (!(await menu.isVisible())) {
        await item.click({ button: 'right' });
        await menu.waitFor({ state: 'visible', timeout: 5000 });
      }
      const labels = await menu.locator('a.action-menu-item .action-label').evaluateAll((labels) => labels.map((label) => label.getAttribute('aria-label') ?? label.textContent ?? ''));
      return labels.length > 0 ? labels : undefined;
    });
    await this.page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
    return entries;
  }

  // --- notifications and dialogs --------------------------------------------------------------

  /** The messages of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notification-toast .notification-list-item-message').allTextContents()).map((text) => text.trim());
  }

  /** Waits for a notification toast whose message matches. */
  async waitForNotification(message: RegExp, limitMs = LIMITS.uiMs): Promise<string> {
    return eventually(
      `a notification matching ${message}`,
      async () => (await this.notifications()).find((text) => message.test(text)),
      { limitMs, describe: () => this.notifications().then((texts) => JSON.stringify(texts)) },
    );
  }

  /** The notification toast whose message matches. */
  notificationToast(message: RegExp): Locator {
    return this.page.locator('.notification-toast').filter({ has: this.page.locator('.notification-list-item-message', { hasText: message }) }).last();
  }

  /** The buttons the notification toast whose message matches offers. */
  async notificationButtons(message: RegExp): Promise<string[]> {
    await this.waitForNotification(message);
    return (await this.notificationToast(message).locator('.notification-list-item-buttons-container a.monaco-button').allTextContents()).map((text) => text.trim());
  }

  /** Clicks the button labelled `button` on the notification toast whose message matches. */
  async clickNotificationButton(message: RegExp, button: string): Promise<void> {
    await this.waitForNotification(message);
    const toast = this.notificationToast(message);
    await toast.locator('.notification-list-item-buttons-container a.monaco-button', { hasText: exactly(button) }).click({ timeout: LIMITS.uiMs });
    await toast.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
  }

  get dialog(): Locator {
    return this.page.locator('.monaco-dialog-box');
  }

  /** Waits for a modal dialog; returns its message and detail. */
  async waitForDialog(): Promise<{ message: string; detail: string; buttons: string[] }> {
    await this.dialog.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    return {
      message: ((await this.dialog.locator('.dialog-message-text').textContent()) ?? '').trim(),
      detail: ((await this.dialog.locator('.dialog-message-detail').textContent().catch(() => '')) ?? '').trim(),
      buttons: (await this.dialog.locator('.dialog-buttons a.monaco-button').allTextContents()).map((text) => text.trim()),
    };
  }

  /** Clicks the dialog's button labelled `label`. */
  async clickDialogButton(label: string): Promise<void> {
    await this.dialog.locator('.dialog-buttons a.monaco-button', { hasText: exactly(label) }).click();
    await this.dialog.waitFor({ state: 'hidden', timeout: LIMITS.uiMs });
  }

  // --- editors --------------------------------------------------------------------------

  /** The code editor of the active editor group. */
  get activeEditor(): Locator {
    return this.page.locator('.part.editor .editor-group-container.active .editor-container .monaco-editor').first();
  }

  /** The label of the active editor's tab, as shown: its name and suffix (e.g. "settings.json"). */
  async activeEditorTitle(): Promise<string> {
    const tab = this.page.locator('.part.editor .editor-group-container.active .tab.active .monaco-icon-label-container').first();
    return ((await tab.textContent({ timeout: LIMITS.uiMs })) ?? '').trim();
  }

  /** The URI of the active editor's document (Monaco's data-uri attribute). */
  async activeEditorUri(): Promise<string> {
    return (await this.activeEditor.getAttribute('data-uri', { timeout: LIMITS.uiMs })) ?? '';
  }

  /** The language mode the status bar shows for the active editor (e.g. "JSON"). */
  async editorLanguage(): Promise<string> {
    return ((await this.page.locator('.part.statusbar [id="status.editor.mode"]').textContent({ timeout: LIMITS.uiMs })) ?? '').trim();
  }

  /** The lines the active editor shows, top to bottom (only what is rendered). */
  async editorLines(): Promise<string[]> {
    return this.activeEditor.locator('.view-lines .view-line').evaluateAll((elements) =>
      elements
        .map((element) => ({
          top: Number.parseFloat((element as unknown as { style: { top: string } }).style.top) || 0,
          text: (element.textContent ?? '').replace(/\u00a0/g, ' '),
        }))
        .sort((a, b) => a.top - b.top)
        .map(({ text }) => text),
    );
  }

  /** Waits until the active editor's URI matches `uri` and it shows a line matching each of `lines`. */
  async waitForEditor(uri: RegExp, lines: RegExp[], limitMs = LIMITS.uiMs): Promise<string[]> {
    return eventually(
      `the active editor of ${uri} to show lines matching ${lines.join(', ')}`,
      async () => {
        if (!uri.test(await this.activeEditorUri())) return undefined;
        const shown = await this.editorLines();
        return lines.every((line) => shown.some((text) => line.test(text))) ? shown : undefined;
      },
      { limitMs, describe: async () => `editor of ${await this.activeEditorUri().catch(() => '?')}, lines ${JSON.stringify(await this.editorLines().catch(() => []))}` },
    );
  }

  /** The message Monaco shows over the editor (e.g. "Cannot edit in read-only editor"). */
  get editorMessage(): Locator {
    return this.activeEditor.locator('.monaco-editor-overlaymessage');
  }

  // --- terminals -----------------------------------------------------------------------------

  /**
   * Every terminal of the panel in creation order: whether it is shown, whether it has the
   * keyboard focus, and the lines it shows (needs terminal.integrated.gpuAcceleration "off").
   */
  async terminals(): Promise<TerminalView[]> {
    return this.page.locator('.part.panel .terminal-wrapper').evaluateAll((wrappers) => {
      const doc = (globalThis as unknown as { document: { activeElement: unknown } }).document;
      return wrappers.map((wrapper) => {
        const element = wrapper as unknown as {
          getClientRects(): ArrayLike<unknown>;
          contains(other: unknown): boolean;
          querySelector(selector: string): { children: ArrayLike<{ textContent: string | null }> } | null;
        };
        const rows = element.querySelector('.xterm-rows');
        return {
          visible: element.getClientRects().length > 0,
          focused: element.contains(doc.activeElement),
          lines: rows ? Array.from(rows.children).map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()) : [],
        };
      });
    });
  }

  /** The terminals, for failure messages. */
  async describeTerminals(): Promise<string> {
    const shown = await this.terminals();
    return JSON.stringify(shown.map((t, index) => ({ index, visible: t.visible, focused: t.focused, lines: t.lines.filter(Boolean) })));
  }

  /** The labels of the terminal tabs (shown once there are two), and which is selected. */
  async terminalTabs(): Promise<Array<{ label: string; selected: boolean }>> {
    return this.page.locator('.part.panel .tabs-list .monaco-list-row').evaluateAll((rows) =>
      rows
        .map((row) => ({
          top: Number.parseFloat((row as unknown as { style: { top: string } }).style.top) || 0,
          label: row.querySelector('.label-name')?.textContent?.trim() ?? '',
          selected: row.getAttribute('aria-selected') === 'true',
        }))
        .sort((a, b) => a.top - b.top)
        .map(({ label, selected }) => ({ label, selected })),
    );
  }

  /** Opens a terminal of the profile named `profile` from the "Launch Profile..." dropdown next to the panel's "+". */
  async launchTerminalProfile(profile: string): Promise<void> {
    const dropdown = this.page.locator('.part.panel a.action-label[aria-label="Launch Profile..."]');
    const entry = this.menu.locator('a.action-menu-item').filter({ has: this.page.locator('.action-label', { hasText: exactly(profile) }) });
    await this.chooseMenuEntry(`the "Launch Profile..." menu to offer "${profile}" and take the click`, () => dropdown.click({ timeout: 5000 }), entry);
  }


  /** Waits until the terminal with the keyboard focus shows a line matching `line`; returns that terminal's index. */
  async waitForFocusedTerminalLine(line: RegExp, limitMs = LIMITS.dockerMs): Promise<number> {
    return eventually(
      `the focused terminal to show a line matching ${line}`,
      async () => {
        const index = (await this.terminals()).findIndex((t) => t.focused && t.lines.some((text) => line.test(text.trim())));
        return index >= 0 ? index : undefined;
      },
      { limitMs, describe: () => this.describeTerminals() },
    );
  }

  /** Clicks into the shown terminal like a person, types `command` and presses Enter. */
  async typeInTerminal(command: string): Promise<void> {
    const xterm = this.page.locator('.part.panel .terminal-wrapper .xterm').filter({ visible: true }).first();
    await xterm.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    await xterm.click();
    await this.page.locator('.part.panel .xterm.focus, .part.panel .xterm-helper-textarea:focus').first().waitFor({ state: 'attached', timeout: LIMITS.uiMs });
    await this.page.keyboard.type(command);
    await this.page.keyboard.press('Enter');
  }

  /** Waits until some terminal shows a line matching `line` (trimmed); returns that line. */
  async waitForTerminalLine(line: RegExp, limitMs = LIMITS.dockerMs): Promise<string> {
    return eventually(
      `a terminal line matching ${line}`,
      async () =>
        (await this.terminals())
          .flatMap((terminal) => terminal.lines)
          .map((text) => text.trim())
          .find((text) => line.test(text)),
      { limitMs, describe: () => this.describeTerminals() },
    );
  }

  // --- the status bar and the clipboard ------------------------------------------------------

  /** The status bar item whose text matches. */
  statusBarItem(text: RegExp): Locator {
    return this.page.locator('.part.statusbar .statusbar-item').filter({ hasText: text }).first();
  }

  /** Lets the page read and write the clipboard, as a browser asks a person once (call before a copy). */
  async allowClipboard(): Promise<void> {
    await this.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(this.page.url()).origin });
  }

  /** Puts `text` on the page's clipboard, as copying it from elsewhere (a chat message) would. */
  async writeClipboard(text: string): Promise<void> {
    await this.allowClipboard();
    await this.page.evaluate((value) => (globalThis as unknown as { navigator: { clipboard: { writeText(text: string): Promise<void> } } }).navigator.clipboard.writeText(value), text);
  }

  /** The text on the clipboard. */
  async readClipboard(): Promise<string> {
    await this.allowClipboard();
    return this.page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
  }

  // --- the Output panel ---------------------------------------------------------------------

  /** The Output view in the panel. */
  get outputView(): Locator {
    return this.page.locator('.part.panel .output-view, .part.panel [id="workbench.panel.output"]').first();
  }

  /** The name of the channel the Output panel shows (its channel picker). */
  async shownOutputChannel(): Promise<string> {
    const select = this.page.locator('.part.panel select.monaco-select-box').first();
    return select.evaluate((element) => {
      const picker = element as unknown as { selectedIndex: number; options: ArrayLike<{ text: string }> };
      return picker.options[picker.selectedIndex]?.text ?? '';
    });
  }

  /** The lines the Output panel's editor shows, top to bottom (only what is rendered). */
  async outputLines(): Promise<string[]> {
    const lines = this.page.locator('.part.panel .monaco-editor .view-lines .view-line');
    return lines.evaluateAll((elements) =>
      elements
        .map((element) => ({
          top: Number.parseFloat((element as unknown as { style: { top: string } }).style.top) || 0,
          text: (element.textContent ?? '').replace(/\u00a0/g, ' '),
        }))
        .sort((a, b) => a.top - b.top)
        .map(({ text }) => text),
    );
  }

  /** Waits until the Output panel shows `channel` and one of its lines matches `line`. */
  async waitForOutputLine(channel: string, line: RegExp, limitMs = LIMITS.uiMs): Promise<{ match: RegExpMatchArray; lines: string[] }> {
    return eventually(
      `the Output panel to show channel "${channel}" with a line matching ${line}`,
      async () => {
        if ((await this.shownOutputChannel()) !== channel) return undefined;
        const lines = await this.outputLines();
        for (const text of lines) {
          const match = text.match(line);
          if (match) return { match, lines };
        }
        return undefined;
      },
      {
        limitMs,
        describe: async () => `channel "${await this.shownOutputChannel().catch(() => '?')}", lines ${JSON.stringify(await this.outputLines())}`,
      },
    );
  }

  // --- the window ---------------------------------------------------------------------------

  /** "Developer: Reload Window" from the palette; returns once the workbench is back. */
  async reloadWindow(): Promise<void> {
    const reloaded = this.page.waitForEvent('load', { timeout: LIMITS.workbenchMs });
    await this.runCommand('Developer: Reload Window');
    await reloaded;
    await this.waitUntilLoaded();
  }
}

/**
 * Label and description of list or tree rows, in the order they appear (runs in the page:
 * virtualised rows are positioned by `top`, not by their order in the DOM).
 */
function rowsTopToBottom(rows: Array<{ querySelector(selector: string): { textContent: string | null } | null }>): TreeRow[] {
  return rows
    .map((row) => ({
      top: Number.parseFloat((row as unknown as { style: { top: string } }).style.top) || 0,
      label: row.querySelector('.label-name')?.textContent?.trim() ?? '',
      description: row.querySelector('.label-description')?.textContent?.trim() ?? '',
    }))
    .sort((a, b) => a.top - b.top)
    .map(({ label, description }) => ({ label, description }));
}
