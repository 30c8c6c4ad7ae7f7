import { parseArgs } from 'node:util';
import { resolveHome } from './client/home';
import { UnsafeDirectoryError } from './client/privateDirectory';
import { AlreadyRunningError } from './util/lock';
import { stderrLogger } from './util/log';
import { Sidecar } from './sidecar';

/** Runs the sidecar in this process until it shuts down (signal, request or idleness). */
export async function runSidecar(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { home: { type: 'string' } }, strict: true });
  const home = resolveHome(values.home);
  try {
    const sidecar = await Sidecar.start({ home, log: stderrLogger, onExit: () => process.exit() });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => void sidecar.shutdown(`received ${signal}`));
    }
    // A bug must not take the state with it: log it, drain and flush, then exit non-zero
    // (the next client starts a fresh sidecar, which reconciles).
    process.on('uncaughtException', (error) => {
      stderrLogger.error('uncaught exception', error);
      process.exitCode = 1;
      void sidecar.shutdown('an internal error');
    });
    process.on('unhandledRejection', (reason) => stderrLogger.error('unhandled rejection', reason));
  } catch (error) {
    if (error instanceof AlreadyRunningError) {
      stderrLogger.info(error.message);
      process.exit(0);
    }
    if (error instanceof UnsafeDirectoryError) stderrLogger.info(`the sidecar could not start: ${error.message}`);
    else stderrLogger.error('the sidecar could not start', error);
    process.exit(1);
  }
}
