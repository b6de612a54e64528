/** The `floxide` command: parses with commander (cli/program.ts) and maps outcomes to exit codes. */
import { CommanderError } from "commander";
import { InvalidConfigError } from "../contract/index.ts";
import { FloxideError } from "../worker/sdk/index.ts";
import { UsageError } from "./options.ts";
import { buildProgram, type Io } from "./program.ts";

const defaultIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  env: process.env,
};

/** Runs `floxide <argv>`; resolves to the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (exit) => (code = exit));
  // Every command inherits this: commander reports help and usage errors instead of exiting.
  for (const command of allCommands(program))
    command.exitOverride((error) => {
      throw error;
    });
  const name = argv[0] ?? "";
  try {
    if (argv.length === 0) {
      program.outputHelp({ error: true });
      return 2;
    }
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every parse error (unknown option, missing argument) is a usage error.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError || error instanceof InvalidConfigError) {
      io.err(`floxide ${name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof FloxideError) {
      io.err(`floxide ${name}: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function* allCommands(command: import("commander").Command): Generator<import("commander").Command> {
  yield command;
  for (const child of command.commands) yield* allCommands(child);
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
