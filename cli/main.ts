/**
 * `sandkasten`: the command-line client. A thin layer over the same sidecar and protocol the
 * extension uses, so scripts and agents see exactly what the sidebar shows.
 * Output for people goes to stdout, `--json` prints machine-readable results, errors go to
 * stderr. Exit codes: 0 done, 1 the sidecar refused or failed, 2 bad usage; `exec` exits with
 * the command's own code; an interruption (a signal, a closed output pipe) gives 128 + the
 * signal's number, as in a shell (see lifecycle.ts). Every exit waits until stdout and stderr
 * are written out.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { version } from '../package.json';
import { CancellationTokenSource, ErrorCodes, ResponseError, SidecarClient, type RawChannelReader } from '../sidecar/client/sidecarClient';
import { isEngineSettingKey } from '../sidecar/client/engineText';
import { resolveHome } from '../sidecar/client/home';
import * as P from '../sidecar/client/protocol';
import { formatBytes } from '../sidecar/client/units';
import { sessionStateWord, workspaceStateNamed, workspaceStateWord } from '../sidecar/client/vocabulary';
import { formatTable, parseConfigValue, print, shortImageId, USAGE, UsageError } from './format';
import { DOCTOR_USAGE, runDoctor } from './doctor';
import { dockerStatusLines, ENGINE_USAGE, runEngineCommand, setEngineSetting, type EngineOptions } from './engine';
import { CliLifecycle, isSignal, type Interruption } from './lifecycle';
import { runProcessCommand, startBackground } from './processes';
import { parsePortCommand, PORT_USAGE, runPortCommand } from './ports';
import { runShareCommand } from './share';
import { runShell } from './shell';
import { lifecycleColumn, runLifecycleCommand } from './workspaceLifecycle';

const SIDECAR_SCRIPT = path.join(__dirname, 'sidecar.js');
/** After an interrupted exec's cancellation, how long the sidecar has to stop the command before the CLI leaves anyway. */
const CANCEL_GRACE_MS = 5_000;

const lifecycle = new CliLifecycle().install();

const OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  home: { type: 'string' },
  kind: { type: 'string' },
  image: { type: 'string' },
  description: { type: 'string' },
  tag: { type: 'string', multiple: true },
  'allow-host-network': { type: 'boolean' },
  workspace: { type: 'string' },
  force: { type: 'boolean', short: 'f' },
  timeout: { type: 'string' },
  queue: { type: 'boolean' },
  interactive: { type: 'boolean', short: 'i' },
  background: { type: 'boolean' },
  follow: { type: 'boolean' },
  signal: { type: 'string' },
  terminal: { type: 'string' },
  state: { type: 'string' },
  prefix: { type: 'string' },
  'dry-run': { type: 'boolean' },
  name: { type: 'string' },
  role: { type: 'string' },
  anyone: { type: 'boolean' },
  detach: { type: 'boolean' },
  scan: { type: 'boolean' },
  label: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.version) return print(version), 0;
  const [group, verb, ...rest] = positionals;
  if (values.help && isPortGroup(group)) return print(PORT_USAGE), 0;
  if (values.help && group === 'doctor') return print(DOCTOR_USAGE), 0;
  if (values.help && group === 'engine') return print(ENGINE_USAGE), 0;
  if (values.help || !group || group === 'help') return print(USAGE), 0;
  const home = resolveHome(values.home);
  if (group === 'daemon' && verb === undefined) return runDaemonInForeground(home);
  // Its own connection: a sidecar that cannot be reached is part of what it reports.
  if (group === 'doctor') return runDoctor(home, positionals.slice(1), { json: values.json ?? false, sidecarScript: SIDECAR_SCRIPT });

  // Read whole before the sidecar is reached: bad usage starts nothing.
  const portCommand = isPortGroup(group) ? parsePortCommand(verb, rest, { scan: values.scan, label: values.label }) : undefined;

  const launch = { home, sidecarScript: SIDECAR_SCRIPT };
  const client = await SidecarClient.connect({ ...launch, startIfMissing: !(group === 'daemon' && verb === 'stop') });
  try {
    if (portCommand) return await runPortCommand(client, portCommand, values.json ?? false);
    return await run(client, group, verb, rest, values, { json: values.json ?? false, yes: values.yes ?? false, launch });
  } finally {
    client.close();
  }
}

async function run(client: SidecarClient, group: string, verb: string | undefined, rest: string[], values: Values, engine: EngineOptions): Promise<number> {
  const json = values.json ?? false;
  const output = (result: unknown, human: () => string) => print(json ? JSON.stringify(result, null, 2) : human());
  const one = (what: string) => {
    if (rest.length !== 1) throw new UsageError(`${group} ${verb} takes exactly one ${what}.`);
    return rest[0];
  };
  const none = () => {
    if (rest.length > 0) throw new UsageError(`${group} ${verb} takes no arguments.`);
  };

  switch (`${group} ${verb ?? ''}`.trim()) {
    case 'workspace create': {
      const workspace = await client.request(P.CreateWorkspaceRequest.type, {
        name: one('NAME'),
        kind: values.kind as P.WorkspaceKind | undefined,
        image: values.image,
        description: values.description,
        tags: values.tag,
        allowHostNetwork: values['allow-host-network'],
      });
      if (workspace.hostNetwork) {
        process.stderr.write(`sandkasten: warning: sessions of ${workspace.id} share this machine's network and can reach every service on it (127.0.0.1 included).\n`);
      }
      output(workspace, () => `Created workspace ${workspace.id} (${workspace.kind}, ${workspace.image}${workspace.hostNetwork ? ', host network' : ''})`);
      return 0;
    }
    case 'workspace list':
    case 'workspace ls': {
      // Page by page (the sidecar answers others between pages), then printed whole.
      const filter = {
        kind: values.kind as P.WorkspaceKind | undefined,
        state: values.state === undefined ? undefined : workspaceStateOption(values.state),
        tag: values.tag?.[0],
        namePrefix: values.prefix,
      };
      const workspaces: P.WorkspaceInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.request(P.ListWorkspacesPageRequest.type, { ...filter, limit: P.MAX_WORKSPACE_PAGE, cursor });
        workspaces.push(...page.workspaces);
        cursor = page.nextCursor;
      } while (cursor);
      output(workspaces, () =>
        formatTable(
          ['ID', 'KIND', 'STATE', 'IMAGE', 'SESSIONS', 'DISK', 'LAST ACCESS', 'LIFECYCLE'],
          workspaces.map((w) => [
            w.id,
            w.hostNetwork ? `${w.kind} (host network)` : w.kind,
            workspaceStateWord(w.state),
            w.image,
            String(w.stats.sessions),
            w.diskBytes !== undefined ? formatBytes(w.diskBytes) : '-',
            w.lastAccessedAt,
            lifecycleColumn(w),
          ]),
        ),
      );
      return 0;
    }
    case 'workspace rename': {
      if (rest.length !== 2) throw new UsageError('workspace rename takes an ID and a NAME.');
      const [id, name] = rest;
      const workspace = await client.request(P.RenameWorkspaceRequest.type, { id, name });
      output(workspace, () => `Renamed workspace ${workspace.id} to ${workspace.name}`);
      return 0;
    }
    case 'workspace set-kind': {
      if (rest.length !== 2) throw new UsageError('workspace set-kind takes an ID and a KIND (session, persistent or collaborative).');
      const [id, kind] = rest;
      if (!(P.WORKSPACE_KINDS as readonly string[]).includes(kind)) throw new UsageError(`"${kind}" is not a kind; kinds: ${P.WORKSPACE_KINDS.join(', ')}.`);
      const workspace = await client.request(P.SetWorkspaceKindRequest.type, { id, kind: kind as P.WorkspaceKind });
      output(workspace, () => `Workspace ${workspace.id} is ${workspace.kind} now`);
      return 0;
    }
    case 'workspace rm':
    case 'workspace delete': {
      const result = await client.request(P.DeleteWorkspaceRequest.type, { id: one('ID'), force: values.force ?? false });
      output(result, () => `Deleted workspace ${result.id}`);
      return 0;
    }
    case 'session start': {
      const session = await client.request(P.StartSessionRequest.type, { workspaceId: one('WORKSPACE_ID') });
      output(session, () => `Session ${session.id} is ${sessionStateWord(session)} on ${session.workspaceId}`);
      return 0;
    }
    case 'session list':
    case 'session ls': {
      const sessions = await client.request(P.ListSessionsRequest.type, { workspaceId: values.workspace });
      output(sessions, () =>
        formatTable(
          ['ID', 'WORKSPACE', 'STATE', 'IMAGE', 'CONTAINER', 'STARTED'],
          sessions.map((s) => [s.id, s.workspaceId, `${sessionStateWord(s)}${s.engineUnreachable ? ' (engine unreachable)' : ''}`, s.image, (s.containerId ?? '-').slice(0, 12), s.startedAt ?? '-']),
        ),
      );
      return 0;
    }
    case 'session stop': {
      const session = await client.request(P.StopSessionRequest.type, { id: one('SESSION_ID') });
      output(session, () => `Session ${session.id} is ${sessionStateWord(session)}`);
      return 0;
    }
    case 'session freeze': {
      const session = await client.request(P.FreezeSessionRequest.type, { id: one('SESSION_ID') });
      output(session, () => `Session ${session.id} is ${sessionStateWord(session)}: its next use thaws it`);
      return 0;
    }
    case 'session resume': {
      const session = await client.request(P.ResumeSessionRequest.type, { id: one('SESSION_ID') });
      output(session, () => `Session ${session.id} is ${sessionStateWord(session)}`);
      return 0;
    }
    case 'session inspect': {
      // Docker's JSON is the output a person or a script wants alike: always JSON.
      const { container } = await client.request(P.InspectSessionRequest.type, { id: one('SESSION_ID') });
      print(JSON.stringify(container, null, 2));
      return 0;
    }
    case 'session rm':
    case 'session destroy': {
      const result = await client.request(P.DestroySessionRequest.type, { id: one('SESSION_ID') });
      output(result, () => `Destroyed session ${result.id}`);
      return 0;
    }
    case 'image list':
    case 'image ls': {
      none();
      const images = await client.request(P.ListImagesRequest.type, {});
      output(images, () =>
        formatTable(
          ['REFERENCE', 'ID', 'SIZE', 'CREATED'],
          images.map((i) => [i.reference, shortImageId(i.id), formatBytes(i.sizeBytes), i.createdAt]),
        ),
      );
      return 0;
    }
    case 'api info':
    case 'api rotate-token': {
      none();
      const info = await client.request(verb === 'info' ? P.ApiInfoRequest.type : P.RotateApiTokenRequest.type, {});
      if (info.warning) process.stderr.write(`sandkasten: warning: ${info.warning}\n`);
      output({ url: info.url ?? null, token: info.token, enabled: info.enabled, ...(info.error ? { error: info.error } : {}) }, () =>
        info.url
          ? `URL:   ${info.url}\nToken: ${info.token}\n\nexport SANDKASTEN_BASE_URL=${info.url} SANDKASTEN_API_KEY=${info.token}`
          : info.enabled
            ? `The HTTP API is on but not listening${info.error ? `: ${info.error}` : ''}.\nToken: ${info.token}`
            : `The HTTP API is off. Turn it on with: sandkasten config set api.enabled true\nToken: ${info.token}`,
      );
      return 0;
    }
    case 'config get': {
      if (rest.length > 1) throw new UsageError('config get takes at most one KEY.');
      const config = await client.request(P.GetConfigRequest.type, { key: verb === 'get' ? rest[0] : undefined });
      output(config, () =>
        rest.length === 1 ? JSON.stringify(config[rest[0]]) : Object.entries(config).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n'),
      );
      return 0;
    }
    case 'config set': {
      if (rest.length !== 2) throw new UsageError('config set takes a KEY and a VALUE (JSON, or a plain string).');
      // A new engine setting restarts the sidecar: that waits for it and says which engine answers.
      if (isEngineSettingKey(rest[0])) return setEngineSetting(client, rest[0], parseConfigValue(rest[1]), engine);
      const config = await client.request(P.SetConfigRequest.type, { values: { [rest[0]]: parseConfigValue(rest[1]) } });
      output(config, () => `${rest[0]} = ${JSON.stringify(config[rest[0]])}`);
      return 0;
    }
    case 'config reset': {
      if (isEngineSettingKey(one('KEY'))) return setEngineSetting(client, rest[0], null, engine);
      const config = await client.request(P.SetConfigRequest.type, { values: { [one('KEY')]: null } });
      output(config, () => `${rest[0]} = ${JSON.stringify(config[rest[0]])} (default)`);
      return 0;
    }
    case 'pool status':
    case 'pool': {
      const pool = await client.request(P.PoolStatusRequest.type, {});
      output(pool, () =>
        [
          `pool ${pool.enabled ? 'enabled' : 'disabled'}`,
          formatTable(
            ['IMAGE', 'READY', 'TARGET', 'REFILLING', 'PROBLEM'],
            pool.images.map((i) => [i.image, String(i.ready), String(i.target), String(i.refilling), i.error ?? '']),
          ),
        ].join('\n'),
      );
      return 0;
    }
    case 'status': {
      const status = await client.request(P.StatusRequest.type, {});
      output(status, () =>
        [
          `sidecar ${status.version}, pid ${status.pid}, ${status.clients} client(s), since ${status.startedAt}`,
          `home      ${status.home} (instance ${status.instanceId})`,
          ...dockerStatusLines(status.docker),
          ...(status.docker.runtimes ? [`runtimes  ${status.docker.runtimes.join(', ')} (sandbox.runtime can name one per workspace kind)`] : []),
          `network   sandboxes cannot reach one another; host services and link-local addresses: ${
            status.hostIsolation.enforced ? 'blocked (host firewall rules)' : `reachable (${status.hostIsolation.reason ?? 'not enforced'})`
          }`,
        ].join('\n'),
      );
      return 0;
    }
    case 'daemon stop': {
      await client.request(P.ShutdownSidecarRequest.type, {});
      output({ stopped: true }, () => 'The sidecar is shutting down.');
      return 0;
    }
    default:
      if (group === 'ps' || group === 'logs' || group === 'process') {
        const command = group === 'process' ? `process ${verb ?? ''}`.trim() : group;
        const args = group === 'process' ? rest : verb === undefined ? rest : [verb, ...rest];
        const timeoutSeconds = values.timeout === undefined ? undefined : Number(values.timeout);
        if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) throw new UsageError('--timeout takes a positive number of seconds.');
        return runProcessCommand(client, command, args, { json, follow: values.follow ?? false, signal: values.signal, timeoutSeconds });
      }
      if (group === 'exec' && values.background) {
        if (!verb || rest.length === 0) throw new UsageError('exec --background needs a SESSION_ID and a command after --.');
        return startBackground(client, verb, rest, { json, follow: false });
      }
      if (group === 'exec') return runExec(client, verb, rest, values);
      if (group === 'engine') return runEngineCommand(client, verb, rest, engine);
      if (group === 'shell') return runShell(client, verb, rest, values.terminal);
      {
        const options = { json, role: values.role, anyone: values.anyone ?? false, name: values.name, terminal: values.terminal, detach: values.detach ?? false };
        const code = await runShareCommand(client, group, verb, rest, options);
        if (code !== undefined) return code;
      }
      {
        const options = { json, dryRun: values['dry-run'] ?? false, force: values.force ?? false, name: values.name, kind: values.kind, image: values.image };
        const code = await runLifecycleCommand(client, `${group} ${verb ?? ''}`.trim(), rest, options);
        if (code !== undefined) return code;
      }
      throw new UsageError(`Unknown command "${[group, verb].filter(Boolean).join(' ')}".`);
  }
}

async function runExec(client: SidecarClient, sessionId: string | undefined, command: string[], values: Values): Promise<number> {
  if (!sessionId || command.length === 0) throw new UsageError('exec needs a SESSION_ID and a command after --: sandkasten exec SESSION_ID -- CMD [ARGS...]');
  const timeoutSeconds = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutSeconds !== undefined && !(timeoutSeconds > 0)) throw new UsageError('--timeout takes a positive number of seconds.');
  const cancellation = new CancellationTokenSource();
  // Output streams as it comes: stdout over a raw byte channel (binary-safe, the socket's own
  // back-pressure reaches the command), stderr as base64 notifications; so does stdout that
  // reaches the sidecar on the shell's own stream (a background job's, an EXIT trap's), so
  // each notification goes where its `stream` says. --json captures instead.
  const streamId = `cli-${process.pid}`;
  let channel: RawChannelReader | undefined;
  let stdoutDone: Promise<void> = Promise.resolve();
  // -i: this process's stdin becomes the command's, through a second raw channel (pipe() keeps the back-pressure).
  const stdinChannel = values.interactive ? await client.openStdinChannel(`${streamId}-stdin`) : undefined;
  if (stdinChannel) {
    stdinChannel.on('error', () => undefined); // the command stopped reading: the rest of stdin is not wanted
    process.stdin.pipe(stdinChannel);
  }
  if (!values.json) {
    const opened = await client.openRawChannel(streamId);
    channel = opened;
    stdoutDone = new Promise((resolve) => opened.once('close', () => resolve()));
    opened.on('error', (error) => process.stderr.write(`sandkasten: the command's stdout was cut off: ${error.message}\n`));
    opened.pipe(process.stdout, { end: false });
    client.onNotification(P.ExecOutputNotification.type, ({ streamId: id, stream, data }) => {
      if (id === streamId) lifecycle.writeHoldingBack(stream === 'stdout' ? process.stdout : process.stderr, Buffer.from(data, 'base64'), client.socket);
    });
  }
  const onInterrupt = () => {
    cancellation.cancel();
    // Nobody reads stdout any more: let the rest of the channel through to nowhere, so the
    // command is not held back while its cancellation travels.
    if (lifecycle.isClosed(process.stdout) && channel) {
      channel.unpipe(process.stdout);
      channel.resume();
    }
  };
  return lifecycle.whileRunning({ onInterrupt, graceMs: CANCEL_GRACE_MS }, async () => {
    const result = await client.request(
      P.ExecRequest.type,
      {
        sessionId,
        command,
        timeoutMs: timeoutSeconds ? Math.round(timeoutSeconds * 1000) : undefined,
        queue: values.queue,
        stdinChannelId: stdinChannel ? `${streamId}-stdin` : undefined,
        streamId: values.json ? undefined : streamId,
        rawChannelId: values.json ? undefined : streamId,
        encoding: values.json ? 'utf8' : 'base64',
      },
      cancellation,
    );
    await stdoutDone;
    if (stdinChannel) {
      // The command is over: stop reading our stdin, or it would keep the CLI alive.
      process.stdin.unpipe(stdinChannel);
      process.stdin.destroy();
      stdinChannel.destroy();
    }
    if (values.json) print(JSON.stringify(result, null, 2));
    else if (result.timedOut) process.stderr.write(`sandkasten: the command timed out after ${timeoutSeconds} s and was stopped\n`);
    // After a closed output, as after SIGPIPE in a shell, the exit code alone says it.
    else if (result.cancelled && (lifecycle.interruption === undefined || isSignal(lifecycle.interruption))) process.stderr.write('sandkasten: the command was cancelled\n');
    return result.exitCode;
  });
}

/** `sandkasten daemon`: the sidecar in the foreground, logging to stderr. */
function runDaemonInForeground(home: string): Promise<number> {
  const child = spawn(process.execPath, [SIDECAR_SCRIPT, '--home', home], { stdio: 'inherit' });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  // The sidecar shuts down in its own time; a second signal leaves without waiting.
  const onInterrupt = (interruption: Interruption) => child.kill(isSignal(interruption) ? interruption : 'SIGTERM');
  return lifecycle.whileRunning({ onInterrupt }, () => exited);
}


/** Says what went wrong on stderr, in one line (no stack trace), and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof UsageError || (error as NodeJS.ErrnoException)?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    process.stderr.write(`sandkasten: ${(error as Error).message}\nRun \`sandkasten --help\` for usage.\n`);
    return 2;
  }
  if (error instanceof ResponseError && (error.code === ErrorCodes.PendingResponseRejected || error.code === ErrorCodes.ConnectionInactive)) {
    process.stderr.write('sandkasten: the connection to the sidecar was lost (it stopped or crashed); see sidecar.log in the storage directory\n');
    return 1;
  }
  if (error instanceof ResponseError) {
    process.stderr.write(`sandkasten: ${error.message} [${P.errorCodeName(error.code) ?? error.code}]\n`);
    // The raw cause (the engine's own words) on a line of its own, kept to one line.
    const detail = P.errorDetail(error);
    if (detail) process.stderr.write(`sandkasten: detail: ${detail.trim().replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
  process.stderr.write(`sandkasten: ${(error as Error)?.message ?? error}\n`);
  return 1;
}

process.on('uncaughtException', (error) => void lifecycle.exit(report(error)));
main(process.argv.slice(2)).then(
  (code) => lifecycle.exit(code),
  (error: unknown) => lifecycle.exit(report(error)),
);

function isPortGroup(group: string | undefined): boolean {
  return group === 'port' || group === 'ports';
}

/** `--state`: the words the table shows (new, running, stopped, archived) or the protocol's. */
function workspaceStateOption(word: string): P.WorkspaceFilter['state'] {
  const state = workspaceStateNamed(word);
  if (!state || state === 'deleting') throw new UsageError(`--state takes new, running, stopped or archived, not "${word}".`);
  return state;
}
