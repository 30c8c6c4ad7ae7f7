import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

/** Makes temporary directories named `prefix…`, all removed after the file's tests. */
export function useTempDirectories(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const directory of made) fs.rmSync(directory, { recursive: true, force: true });
  });
  return () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    made.push(directory);
    return directory;
  };
}
