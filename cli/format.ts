export class UsageError extends Error {}

export const USAGE = `sandkasten — Docker sandboxes shared with the Sandkasten VS Code extension

Usage:
  sandkasten workspace create NAME [--kind K] [--image IMG] [--description TEXT] [--tag T]... [--json]
                             [--allow-host-network]    its sessions share this machine's network and
                                                       can reach every service on it: only when needed
  sandkasten workspace list [--kind K] [--state S] [--tag T] [--prefix NAME] [--json]
                                                       every workspace that matches, oldest first
  sandkasten workspace rename ID NAME [--json]         a new name (rules as at create); the id stays
  sandkasten workspace rm ID [--force]
  sandkasten workspace pin ID | unpin ID               a pinned workspace is never archived or deleted
  sandkasten workspace keep ID                         counts as a use: its expiry starts again
  sandkasten workspace history ID [--json]             its events (made, started, frozen, warned…) and why
  sandkasten workspace set-image ID IMAGE              its next session runs IMAGE with the same files
  sandkasten workspace set-kind ID KIND                session, persistent or collaborative (only
                                                       collaborative workspaces' sessions are shared)
  sandkasten workspace archive ID                      saves its files to a file, removes the volume;
                                                       starting a session restores them
  sandkasten workspace clone ID NAME                   a new workspace with a copy of its files
  sandkasten workspace export ID FILE [--force]        its files as a .tar.gz (--force overwrites FILE)
  sandkasten workspace import FILE NAME [--kind K] [--image IMG]
                                                       a new workspace with the files of a .tar.gz
  sandkasten snapshot create WORKSPACE_ID [--name N]   saves its files now, versioned
  sandkasten snapshot list WORKSPACE_ID [--json]
  sandkasten snapshot restore SNAPSHOT_ID              its files as they were (the current ones are
                                                       snapshotted first: the answer says how to undo)
  sandkasten snapshot rm SNAPSHOT_ID
  sandkasten lifecycle --dry-run [--json]              what the lifecycle would do now and why
  sandkasten lifecycle run [--json]                    does it now (it also runs every minute)
  sandkasten session start WORKSPACE_ID [--json]     resumes its stopped session, or starts one
  sandkasten session list [--workspace ID] [--json]
  sandkasten session stop SESSION_ID
  sandkasten session freeze SESSION_ID                 pauses it now, processes and memory kept; its
                                                       next command or keystroke thaws it
  sandkasten session resume SESSION_ID
  sandkasten session inspect SESSION_ID                Docker's inspect JSON of its container
  sandkasten session rm SESSION_ID
  sandkasten exec SESSION_ID [-i] [--timeout SECONDS] [--queue] -- CMD [ARGS...]
                                                       runs CMD in the session's shell; its stdout and
                                                       stderr come out here; its stdin is /dev/null
                                                       unless -i passes this terminal's or pipe's
                                                       stdin through (as docker exec -i does)
                                                       while another command runs in the session, it
                                                       runs at once beside it, in a shell of its own
                                                       that starts where the session is; --queue
                                                       waits for its turn instead
  sandkasten exec --background SESSION_ID -- CMD [ARGS...]
                                                       starts CMD in the background and prints its
                                                       process id at once (--json: the whole record)
  sandkasten ps [SESSION_ID] [--json]                  background processes, running and exited
  sandkasten process output PROCESS_ID [--follow]      what it printed (--follow: until it exits)
  sandkasten process kill PROCESS_ID [--signal INT|TERM|KILL]
                                                       stops it as Ctrl-C would, or sends the signal
  sandkasten process wait PROCESS_ID [--timeout SECONDS]
                                                       waits for it; exits with its exit code (124:
                                                       still running when the timeout came)
  sandkasten logs SESSION_ID [--follow]                what background jobs printed after their
                                                       command returned (kept up to logs.sessionKb)
  sandkasten shell SESSION_ID [--terminal ID]          an interactive shell in the session; exit it to
                                                       end it, close the window to detach (the shell
                                                       lives on: reattach or restore with --terminal)
  sandkasten share SESSION_ID [--role viewer|editor] [--anyone] [--json]
                                                       shares a running session of a collaborative
                                                       workspace: prints the link and the code;
                                                       --role: new guests' role (default viewer),
                                                       --anyone: nobody waits for your approval
  sandkasten share list [--json]                       your shares: guests, roles, waiting requests
  sandkasten share allow REQUEST_ID [--role R] | deny REQUEST_ID
  sandkasten share role SESSION_ID GUEST_ID viewer|editor
  sandkasten share remove SESSION_ID GUEST_ID          disconnects the guest; its access ends
  sandkasten share revoke SESSION_ID                   a new link; the old one is refused, guests stay
  sandkasten share stop SESSION_ID                     ends the share, disconnects every guest
  sandkasten join LINK [--name N] [--terminal ID]      joins a shared session (waits for the host's
                                                       approval) and attaches this terminal to its
                                                       shared terminal; leaving the shell leaves
  sandkasten join LINK --detach [--json]               joins without attaching: then sandkasten
                                                       shell shared.ID attaches
  sandkasten share joined [--json] | share leave ID    what you joined; leave one
  sandkasten port list [SESSION_ID] [--scan] [--json]
                                                       ports listening in sessions, and forwarded ones
  sandkasten port forward SESSION_ID PORT[:LOCAL] [--label TEXT] [--json]
                                                       forwards PORT to LOCAL on 127.0.0.1 (default:
                                                       the same number when free); prints the URL
  sandkasten port stop SESSION_ID PORT                 closes the forward and its connections
  sandkasten port label SESSION_ID PORT TEXT           names the port ("" removes the name)
  sandkasten config get [KEY] [--json]
  sandkasten config set KEY VALUE                      VALUE is JSON, or a plain string,
                                                       e.g. config set pool.images '{"IMG": 3}'
  sandkasten config reset KEY
  sandkasten config set docker.host ADDRESS | docker.context NAME
                                                       the Docker engine to use (ssh://, tcp://, unix://
                                                       or a Docker context; reset: the environment
                                                       decides); restarts the sidecar and prints the
                                                       engine it reaches then
  sandkasten pool status [--json]                      ready / target / refilling per image
  sandkasten image list [--json]                       local images, newest first (also: image ls)
  sandkasten api info [--json]                         the HTTP API's URL and bearer token (turn it on
                                                       with: config set api.enabled true)
  sandkasten api rotate-token [--json]                 a new token; the old one is refused at once
  sandkasten status [--json]                           the sidecar; the engine: version, address and
                                                       what chose it, transport, round trip, output path
  sandkasten engine [--json]                           the engine in use, what chose it, Docker contexts
  sandkasten engine switch [--yes] [--json]            moves the storage directory to the engine that
                                                       answers now, after asking; nothing is deleted
                                                       (engine --help says more)
  sandkasten doctor [--json]                           checks Docker, disk and resource limits, images,
                                                       the pool, sandbox hardening and isolation, the
                                                       storage directory and what listens; one PASS/
                                                       WARN/FAIL line each with what to do (exit 1
                                                       when one failed; doctor --help says more)
  sandkasten daemon                                    run the sidecar in the foreground
  sandkasten daemon stop

Kinds: ephemeral, session (default), persistent, collaborative.
Options:
  --home DIR   storage directory (default: $SANDKASTEN_HOME, else ~/.sandkasten)
  --json       machine-readable output
  -y, --yes    engine switch: switch without asking
  -h, --help   this text;  --version  the version

Exit codes: 0 done, 1 refused or failed (message on stderr), 2 bad usage;
exec exits with the command's own exit code, shell with the shell's, doctor 1 when a check failed.
Interrupted, sandkasten cancels what it runs (exec: the command in the container, as Ctrl-C
does), writes out what it has, and exits as a shell reports a command ended by a signal:
  129 SIGHUP (the terminal closed), 130 SIGINT (Ctrl-C), 143 SIGTERM,
  141 its output was closed (the reader of a pipe went away, as in \`... | head\`).`;

export function formatTable(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '(none)';
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `config set` values: JSON when it parses (numbers, booleans, objects), else the plain string. */
export function parseConfigValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** An image id as `docker images` shows it: 12 hex digits, without the `sha256:` prefix. */
export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Writes `text` to stdout with one final newline; nothing for empty text. */
export function print(text: string): void {
  if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
