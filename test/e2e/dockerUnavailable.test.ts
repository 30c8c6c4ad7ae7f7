/**
 * VS Code started with DOCKER_HOST pointing at a socket nobody listens on: the extension still
 * activates, and its views explain what is wrong and offer a way out instead of an error.
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { CodeServerSuite } from './codeServerSuite';
import { LIMITS, TEST_IMAGE } from './support';

const NO_DOCKER = 'unix:///tmp/sandkasten-no-docker.sock';

describe('Sandkasten in a real VS Code when Docker is not reachable', () => {
  const suite = new CodeServerSuite('docker-unavailable', { env: { DOCKER_HOST: NO_DOCKER } });

  before(() => suite.start(), { timeout: LIMITS.suiteMs });
  after(() => suite.stop(), { timeout: LIMITS.suiteMs });

  suite.test('1b. With DOCKER_HOST pointing at nothing, the Workspaces welcome explains that Docker is not reachable and offers Retry', async (vs) => {
    await vs.openSandkasten();
    const welcome = vs.welcome('Workspaces').filter({ hasText: 'Docker is not reachable' });
    await welcome.waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    assert.match((await welcome.textContent()) ?? '', /start Docker .*or check DOCKER_HOST/, 'it says what to do');
    const retry = welcome.getByRole('button', { name: 'Retry' });
    assert.ok(await retry.isVisible(), 'the welcome offers a Retry button');
    assert.ok(await welcome.getByRole('button', { name: 'Show Logs' }).isVisible(), 'and a Show Logs button');
    await vs.welcome('Sessions').filter({ hasText: 'Sessions need a running Docker engine' }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });

    const status = await suite.sidecarStatus();
    assert.equal(status.docker.available, false, 'the sidecar does not reach Docker either');
    assert.match(status.docker.endpoint ?? '', /sandkasten-no-docker\.sock/, 'it tried the DOCKER_HOST code-server was started with');

    // Retry asks again; Docker is still missing, so the explanation stays (and nothing breaks).
    await retry.click();
    await welcome.waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    assert.deepEqual(await vs.treeRows('Workspaces'), [], 'no tree rows while Docker is missing');
  });

  suite.test('1d. The welcome offers Run Diagnostics: its report leads with the failed Docker line and what to do', async (vs) => {
    await vs.openSandkasten();
    const welcome = vs.welcome('Workspaces').filter({ hasText: 'Docker is not reachable' });
    await welcome.waitFor({ state: 'visible', timeout: LIMITS.dockerMs });
    await welcome.getByRole('button', { name: 'Run Diagnostics' }).click();
    await vs.waitForNotification(/^Sandkasten diagnostics: \d+ problems? found \(1 failed/, LIMITS.dockerMs);
    // The report is a Markdown preview: VS Code's webview host frame, then the preview's own.
    const report = vs.page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
    const headings = report.locator('h2');
    await headings.first().waitFor({ state: 'visible', timeout: LIMITS.uiMs });
    assert.match((await headings.first().textContent()) ?? '', /Failed: Docker engine/, 'the failure comes first');
    const text = (await report.locator('body').textContent()) ?? '';
    assert.match(text, /sandkasten-no-docker\.sock/, 'it names where it looked');
    assert.match(text, /What to do: Start the engine at unix:\/\/\S+ \(chosen by DOCKER_HOST\), or choose another one/, 'and what to do');
    assert.match(text, /Skipped: Images/, 'what needs the engine is skipped, not failed');
  });

  suite.test('1c. Creating a workspace without Docker ends in a notification that says why, with a Show Logs action', async (vs) => {
    await vs.runCommand('Sandkasten: Create Workspace');
    await vs.answerInput('Create Workspace: name (1/4)', 'no-docker');
    await vs.pick('Create Workspace: kind (2/4)', 'ephemeral');
    // Without Docker the image step still offers the default image (no local list).
    await vs.pick('Create Workspace: image (3/3)', TEST_IMAGE);

    const message = await vs.waitForNotification(/Docker/, LIMITS.dockerMs);
    assert.doesNotMatch(message, /\n\s+at |Error:/, `a sentence, not a stack trace: "${message}"`);
    const toast = vs.page.locator('.notification-toast', { hasText: message });
    assert.ok(await toast.getByRole('button', { name: 'Show Logs' }).isVisible(), 'the notification offers "Show Logs"');
    assert.deepEqual(await suite.listWorkspaces(), [], 'no workspace was recorded');
    await vs.welcome('Workspaces').filter({ hasText: 'Docker is not reachable' }).waitFor({ state: 'visible', timeout: LIMITS.uiMs });
  });
});
