/** What is kept of directories' entries, for all workspaces together (the least recently used go first). */
const MAX_KNOWN_DIRECTORIES = 4096;
const MAX_KNOWN_NAMES = 200_000;

/** `path` is `root` or below it (paths as clients name them: `/`, `/src/a.ts`). */
export const isWithin = (path: string, root: string) => root === '/' || path === root || path.startsWith(`${root}/`);

/** One workspace's part of Listings: directories' entries by path. */
export type WorkspaceListings = ReturnType<Listings['of']>;

/**
 * Directories' entries as last seen, by workspace and path, for every workspace at once; the
 * least recently used are forgotten beyond MAX_KNOWN_DIRECTORIES and MAX_KNOWN_NAMES.
 */
export class Listings {
  private readonly byKey = new Map<string, Set<string>>();
  private names = 0;

  /** The listings of one workspace (a path never holds a NUL, so the key cannot be ambiguous). */
  of(workspaceId: string) {
    const prefix = `${workspaceId}\0`;
    return {
      has: (path: string) => this.byKey.has(prefix + path),
      get: (path: string) => this.get(prefix + path),
      set: (path: string, names: Set<string>) => this.set(prefix + path, names),
      add: (path: string, name: string) => {
        const names = this.byKey.get(prefix + path);
        if (names && !names.has(name)) {
          names.add(name);
          this.names++;
        }
      },
      remove: (path: string, name: string) => {
        if (this.byKey.get(prefix + path)?.delete(name)) this.names--;
      },
      forget: (path: string) => this.forget(prefix + path),
      /** Forgets `path` and every directory below it. */
      forgetWithin: (path: string) => {
        for (const key of [...this.byKey.keys()]) if (key.startsWith(prefix) && isWithin(key.slice(prefix.length), path)) this.forget(key);
      },
      paths: () => [...this.byKey.keys()].filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length)),
    };
  }

  private get(key: string): Set<string> | undefined {
    const names = this.byKey.get(key);
    if (names) {
      this.byKey.delete(key);
      this.byKey.set(key, names);
    }
    return names;
  }

  private set(key: string, names: Set<string>): void {
    this.forget(key);
    this.byKey.set(key, names);
    this.names += names.size;
    for (const [oldest, kept] of this.byKey) {
      if (this.byKey.size <= MAX_KNOWN_DIRECTORIES && this.names <= MAX_KNOWN_NAMES) break;
      this.byKey.delete(oldest);
      this.names -= kept.size;
    }
  }

  private forget(key: string): void {
    const names = this.byKey.get(key);
    if (!names) return;
    this.byKey.delete(key);
    this.names -= names.size;
  }
}
