import * as fs from 'node:fs';
import { writeFileAtomically } from './store/durableFile';
import { invalidConfig, notFound } from './errors';
import { defaultSettings, isSettingKey, SETTINGS, SETTING_KEYS, type SettingsValues } from './client/configSchema';
import type { ConfigValues } from './client/protocol';

/**
 * `config.json` in the storage directory: the sidecar's settings, readable and writable
 * without VS Code. Only keys that differ from the default are stored.
 */
export class ConfigStore {
  private values: SettingsValues;
  private readonly listeners: Array<(changed: string[]) => void> = [];

  private constructor(
    private readonly file: string,
    stored: ConfigValues,
  ) {
    this.values = { ...defaultSettings(), ...stored } as SettingsValues;
  }

  /** Creates the file with defaults when absent; a bad file is an error naming the key. */
  static async open(file: string): Promise<ConfigStore> {
    if (!fs.existsSync(file)) {
      await writeFileAtomically(file, Buffer.from('{}\n'));
      return new ConfigStore(file, {});
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      throw invalidConfig(`${file} is not valid JSON (${(error as Error).message}). Fix or delete it.`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalidConfig(`${file} must contain a JSON object of settings.`);
    }
    validate(parsed as ConfigValues, file);
    return new ConfigStore(file, parsed as ConfigValues);
  }

  get current(): Readonly<SettingsValues> {
    return this.values;
  }

  get(key?: string): ConfigValues {
    if (key === undefined) return { ...this.values };
    if (!isSettingKey(key)) throw notFound(`Unknown setting "${key}". Known settings: ${SETTING_KEYS.join(', ')}.`);
    return { [key]: this.values[key] };
  }

  /** Validates every value first, so a bad one changes nothing. `null` resets to the default. */
  async set(changes: ConfigValues): Promise<string[]> {
    const resolved: ConfigValues = {};
    for (const [key, value] of Object.entries(changes)) {
      if (!isSettingKey(key)) throw unknownKey(key);
      resolved[key] = value === null ? structuredClone(SETTINGS[key].defaultValue) : value;
    }
    validate(resolved, 'the request');
    const changed = Object.keys(resolved).filter(
      (key) => JSON.stringify(resolved[key]) !== JSON.stringify(this.values[key as keyof SettingsValues]),
    );
    if (changed.length === 0) return [];
    const next = { ...this.values, ...resolved } as SettingsValues;
    const stored = Object.fromEntries(
      SETTING_KEYS.filter((key) => JSON.stringify(next[key]) !== JSON.stringify(SETTINGS[key].defaultValue)).map((key) => [
        key,
        next[key],
      ]),
    );
    await writeFileAtomically(this.file, Buffer.from(JSON.stringify(stored, null, 2) + '\n'));
    this.values = next;
    for (const listener of this.listeners) listener(changed);
    return changed;
  }

  onDidChange(listener: (changed: string[]) => void): void {
    this.listeners.push(listener);
  }
}

function unknownKey(key: string): Error {
  return invalidConfig(`Unknown setting "${key}". Known settings: ${SETTING_KEYS.join(', ')}.`);
}

function validate(values: ConfigValues, where: string): void {
  for (const [key, value] of Object.entries(values)) {
    if (!isSettingKey(key)) throw invalidConfig(`Unknown setting "${key}" in ${where}. Known settings: ${SETTING_KEYS.join(', ')}.`);
    const problem = SETTINGS[key].check(value);
    if (problem) throw invalidConfig(`Setting "${key}" in ${where} ${problem} (got ${JSON.stringify(value)}).`);
  }
}
