import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigStore } from '../../sidecar/config';
import { defaultSettings, SETTINGS, SETTING_KEYS } from '../../sidecar/client/configSchema';

const packageJson = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));

function tempFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sk-config-')), 'config.json');
}

describe('configuration', () => {
  it('declares every sidecar setting in package.json with the same default', () => {
    const properties = packageJson.contributes.configuration.properties;
    for (const key of SETTING_KEYS) {
      const declared = properties[`sandkasten.${key}`];
      assert.ok(declared, `sandkasten.${key} is missing from package.json`);
      assert.deepEqual(declared.default, SETTINGS[key].defaultValue, `default of ${key}`);
    }
    const extensionOnly = new Set(['sandkasten.storageDirectory', 'sandkasten.openTerminalOnStart']);
    for (const key of Object.keys(properties)) {
      if (!extensionOnly.has(key)) assert.ok(SETTING_KEYS.includes(key.replace(/^sandkasten\./, '') as never), `${key} is unknown to the sidecar`);
    }
  });

  it('creates config.json with defaults when it is absent', async () => {
    const file = tempFile();
    const config = await ConfigStore.open(file);
    assert.deepEqual(config.current, defaultSettings());
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {});
  });

  it('stores only values that differ from the default, and null resets', async () => {
    const file = tempFile();
    const config = await ConfigStore.open(file);
    assert.deepEqual(await config.set({ 'limits.memoryMb': 512, network: 'bridge' }), ['limits.memoryMb']);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { 'limits.memoryMb': 512 });
    await config.set({ 'limits.memoryMb': null });
    assert.equal(config.current['limits.memoryMb'], 1024);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), {});
  });

  it('rejects a bad value with the key in the message and changes nothing', async () => {
    const file = tempFile();
    const config = await ConfigStore.open(file);
    await config.set({ defaultImage: 'alpine:3' });
    const before = fs.readFileSync(file, 'utf8');
    await assert.rejects(config.set({ defaultImage: 'busybox', 'limits.pids': -1 }), /limits\.pids/);
    await assert.rejects(config.set({ 'pool.images': { 'debian:12': 'three' } }), /pool\.images/);
    await assert.rejects(config.set({ nonsense: 1 }), /Unknown setting "nonsense"/);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
    assert.equal(config.current.defaultImage, 'alpine:3');
  });

  it('refuses to open a config.json with a bad value, naming the key', async () => {
    const file = tempFile();
    fs.writeFileSync(file, JSON.stringify({ network: 'warp' }));
    await assert.rejects(ConfigStore.open(file), /"network".*must be one of/);
    fs.writeFileSync(file, '{ not json');
    await assert.rejects(ConfigStore.open(file), /not valid JSON/);
  });
});
