import * as vscode from 'vscode';
import { SETTING_KEYS, type SettingKey } from '../sidecar/client/configSchema';
import type { ConfigValues } from '../sidecar/client/protocol';

const SECTION = 'sandkasten';

/** Typed access to the `sandkasten.*` settings; no setting key is a loose string elsewhere. */
export class Config {
  private get section() {
    return vscode.workspace.getConfiguration(SECTION);
  }

  /** Empty means: SANDKASTEN_HOME, else ~/.sandkasten (the same rule as the CLI). */
  get storageDirectory(): string {
    return this.section.get<string>('storageDirectory', '').trim();
  }

  /** After Start Session, open (or reveal) a terminal in it, as Dev Containers drops you into the container. */
  get openTerminalOnStart(): boolean {
    return this.section.get<boolean>('openTerminalOnStart', true);
  }

  /**
   * The sidecar settings a person set explicitly in VS Code (user, workspace or folder).
   * Settings left at their default are not sent, so they do not override `config.json`.
   */
  explicitSidecarSettings(keys: readonly string[] = SETTING_KEYS, options: { resetUnset?: boolean } = {}): ConfigValues {
    const values: ConfigValues = {};
    for (const key of keys) {
      const inspected = this.section.inspect(key);
      const value = inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
      // null resets the sidecar's value: used when a person removed the setting in VS Code.
      if (value !== undefined) values[key] = value;
      else if (options.resetUnset) values[key] = null;
    }
    return values;
  }

  /** The VS Code scopes (user, workspace) in which a sidecar setting is set explicitly: where resetting it must happen. */
  explicitScopes(key: SettingKey): vscode.ConfigurationTarget[] {
    const inspected = this.section.inspect(key);
    return [
      ...(inspected?.globalValue !== undefined ? [vscode.ConfigurationTarget.Global] : []),
      ...(inspected?.workspaceValue !== undefined ? [vscode.ConfigurationTarget.Workspace] : []),
    ];
  }

  /** Sets a sidecar setting in VS Code's settings at `target`; undefined removes it there. */
  update(key: SettingKey, value: unknown, target: vscode.ConfigurationTarget): Thenable<void> {
    return this.section.update(key, value, target);
  }

  /** The sidecar keys touched by a configuration change event. */
  changedSidecarKeys(event: vscode.ConfigurationChangeEvent): string[] {
    return SETTING_KEYS.filter((key) => event.affectsConfiguration(`${SECTION}.${key}`));
  }
}
