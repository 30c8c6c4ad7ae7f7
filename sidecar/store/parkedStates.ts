import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomically } from './durableFile';

/**
 * A storage directory's state per Docker engine. The state in use (`state.sqlite` and its
 * journal, and the directories whose files its records name: archives, snapshots, pipes)
 * belongs to one engine; switching engines sets it aside under `engines/<engine digest>/` and
 * takes up what was set aside for the new engine, if anything. Nothing on either engine is
 * touched: switching back finds every workspace as it was. (Left in place, the new engine's
 * sweeps would remove the archives and snapshots its records do not name.)
 *
 * The move is done with the database closed (the sidecar stopping) and is written down first
 * (`engines/switch.json`), so a sidecar killed half-way finishes it on its next start.
 */

interface SwitchIntent {
  from: string;
  to: string;
  /** The state of `from` is set aside already; only taking up `to`'s is left. */
  parked?: boolean;
}

/** A directory name for an engine ID (which a remote engine chose: never a path as it is). */
export function engineDirectoryName(engineId: string): string {
  return createHash('sha256').update(engineId).digest('hex').slice(0, 24);
}

export class ParkedStates {
  private readonly root: string;
  private readonly intentFile: string;

  constructor(
    home: string,
    private readonly database: string,
    /** Directories that go with the database (see homePaths: archives, snapshots, pipes). */
    private readonly alongside: string[] = [],
  ) {
    this.root = path.join(home, 'engines');
    this.intentFile = path.join(this.root, 'switch.json');
  }

  /** Whether state was set aside for this engine before (shown when asking to switch). */
  hasStateFor(engineId: string): boolean {
    return fs.existsSync(path.join(this.root, engineDirectoryName(engineId), path.basename(this.database)));
  }

  /** Writes down a switch; `complete()` (with the database closed) carries it out. */
  async request(from: { id: string; name: string }, to: { id: string; name: string }): Promise<void> {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    for (const engine of [from, to]) {
      const directory = path.join(this.root, engineDirectoryName(engine.id));
      fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
      await writeFileAtomically(path.join(directory, 'engine.json'), Buffer.from(JSON.stringify({ id: engine.id, name: engine.name }, null, 2) + '\n'));
    }
    await this.writeIntent({ from: from.id, to: to.id });
  }

  /** Finishes a switch written down before (a no-op without one). Returns the engine switched to. */
  async complete(): Promise<string | undefined> {
    const intent = this.readIntent();
    if (!intent) return undefined;
    const files = [this.database, `${this.database}.journal`, ...this.alongside];
    const from = path.join(this.root, engineDirectoryName(intent.from));
    const to = path.join(this.root, engineDirectoryName(intent.to));
    if (!intent.parked) {
      fs.mkdirSync(from, { recursive: true, mode: 0o700 });
      for (const file of files) moveIfPresent(file, path.join(from, path.basename(file)));
      await this.writeIntent({ ...intent, parked: true });
    }
    for (const file of files) moveIfPresent(path.join(to, path.basename(file)), file);
    fs.rmSync(this.intentFile, { force: true });
    syncDirectory(path.dirname(this.database));
    return intent.to;
  }

  private readIntent(): SwitchIntent | undefined {
    try {
      const intent = JSON.parse(fs.readFileSync(this.intentFile, 'utf8')) as SwitchIntent;
      return typeof intent.from === 'string' && typeof intent.to === 'string' ? intent : undefined;
    } catch {
      return undefined;
    }
  }

  private async writeIntent(intent: SwitchIntent): Promise<void> {
    await writeFileAtomically(this.intentFile, Buffer.from(JSON.stringify(intent) + '\n'));
  }
}

/**
 * Moves `source` to `target`. Something already at `target` is another state of the same
 * engine (a switch written down twice, or an engine that began afresh while its old state was
 * parked): it is kept beside it, never overwritten.
 */
function moveIfPresent(source: string, target: string): void {
  if (!fs.existsSync(source)) return;
  if (fs.existsSync(target)) fs.renameSync(target, `${target}.replaced-${Date.now()}`);
  fs.renameSync(source, target);
  syncDirectory(path.dirname(target));
}

function syncDirectory(directory: string): void {
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
