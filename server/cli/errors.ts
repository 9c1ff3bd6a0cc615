/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit codes: 1 for a failed command or bad input, 2 when the embedded database is in use, 130 when interrupted (as shells report Ctrl-C). */
export const EXIT_FAILURE = 1;
export const EXIT_DATABASE_LOCKED = 2;
export const EXIT_INTERRUPTED = 130;
