/**
 * `traffic <command> [flags]`. Option errors print the message and the command's usage (exit 2);
 * typed errors print their code and message; anything else is a bug and prints a stack.
 */
import type { Command } from '../core/command.ts';
import { TrafficError } from '../core/errors.ts';
import { toolVersion } from '../core/version.ts';
import { COMMANDS } from './commands.ts';

function help(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)}  ${c.summary}`);
  return `usage: traffic <command> [flags]   (traffic <command> --help for its flags)\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    const v = toolVersion();
    process.stdout.write(`${v.name} ${v.version}${v.commit ? ` (${v.commit.slice(0, 12)})` : ''}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`traffic: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  let command: Command;
  try {
    command = (await entry.load()).command;
  } catch (err) {
    // Development-only commands are not in the package (no bench/, scripts/, dev dependencies).
    if (entry.dev && (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      process.stderr.write(`traffic: command "${name}" is a development command, not available in this installation (use a checkout)\n`);
      return 2;
    }
    throw err;
  }
  // `--` ends the options: `traffic shard -- --help` shards the key "--help".
  const dd = rest.indexOf('--');
  const flags = dd === -1 ? rest : rest.slice(0, dd);
  if (flags.includes('--help') || flags.includes('-h')) {
    process.stdout.write(command.usage.endsWith('\n') ? command.usage : command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    return reportError(err, command);
  }
}

export function reportError(err: unknown, command?: Command): number {
  if (err instanceof TrafficError) {
    process.stderr.write(`traffic ${command?.name ?? ''}: error [${err.code}]: ${err.message}\n`);
    if (err.code === 'INVALID_OPTION' && command) process.stderr.write(`\n${command.usage}\n`);
    return err.exitCode;
  }
  process.stderr.write(`traffic ${command?.name ?? ''}: unexpected error\n${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
