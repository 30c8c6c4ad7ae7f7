/**
 * Entry of the sidecar bundle (dist/sidecar.js): `node sidecar.js [--home DIR]`.
 * Started detached by the first client that finds no sidecar for its storage directory.
 */
import { runSidecar } from './daemon';

void runSidecar(process.argv.slice(2));
