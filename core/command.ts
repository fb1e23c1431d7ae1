/** What every `traffic <command>` module exports as `command`. */
export interface Command {
  name: string;
  summary: string;
  /** Usage text printed for --help and for option errors. */
  usage: string;
  /**
   * Runs the command with its own argv (after the command name). Returns the exit code.
   * Commands close their connections in a finally block: cleanup always runs.
   */
  run(argv: string[]): Promise<number>;
}
