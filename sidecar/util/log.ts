/** The sidecar logs to stderr (the log file when it runs detached). */
export interface Logger {
  info(message: string): void;
  error(message: string, error?: unknown): void;
}

export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`),
  error: (message, error) =>
    process.stderr.write(
      `${new Date().toISOString()} ERROR ${message}${error ? `: ${(error as Error)?.stack ?? String(error)}` : ''}\n`,
    ),
};
