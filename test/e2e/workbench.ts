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
    return this.view(viewName)
      .locator('[role=treeitem]')
      .evaluateAll((rows) =>
        rows
          .map((row) => ({
            top: Number.parseFloat((row as unknown as { style: { top: string } }).style.top) || 0,
            label: row.querySelector('.label-name')?.textContent?.trim() ?? '',
            description: row.querySelector('.label-description')?.textContent?.trim() ?? '',
          }))
          .sort((a, b) => a.top - b.top)
          .map(({ label, description }) => ({ label, description })),
      );
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

  /** Right-clicks the row and chooses `entry` from its context menu. */
  async chooseFromContextMenu(item: Locator, entry: string): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu');
    const menuItem = menu.locator('a.action-menu-item').filter({ has: this.page.locator(`.action-label[aria-label="${entry}"]`) });
    // VS Code's menus ignore mouse-ups during the first 100 ms after they render (so releasing
    // the right button cannot pick an entry); a click that fast (no person is) leaves the menu
    // open and runs nothing. So: click, and when the menu is still open, click again. A tree
    // refresh can also close the menu before the click: then right-click again.
    let clicked = false;
    await eventually(
      `the context menu to offer "${entry}" and take the click`,
      async () => {
        if (!(await menu.isVisible())) {
          if (clicked) return true; // the click was taken and closed the menu
          await item.click({ button: 'right' });
          await menu.waitFor({ state: 'visible', timeout: 5000 });
        }
        await menuItem.waitFor({ state: 'visible', timeout: 2000 });
        await menuItem.hover({ timeout: 5000 });
        await menuItem.click({ timeout: 5000 });
        clicked = true;
        await menu.waitFor({ state: 'hidden', timeout: 2000 });
        return true;
      },
      { describe: async () => `menu entries ${JSON.stringify(await menu.locator('a.action-menu-item .action-label').allTextContents())}` },
    );
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

