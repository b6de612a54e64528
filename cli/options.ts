/**
 * The bridge from the option tables (contract/options.ts) to commander: each table entry becomes
 * a `--flag <value>` whose help shows its default, range and variable; the values typed on the
 * command line come back keyed by option name, for `resolveOptions` to validate with the
 * environment (one validator for flags and variables, every problem listed at once).
 */
import { Command, Option } from "commander";
import { optionRange, type OptionTable, type RawOptions } from "../contract/index.ts";

/** A command-line mistake: printed with the command's name, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Adds every option of `table` to `command`. */
export function addTableOptions(command: Command, table: OptionTable): Command {
  for (const spec of Object.values(table)) {
    const range = optionRange(spec).replaceAll("`", "");
    const option = new Option(
      `--${spec.flag} ${spec.type === "int" ? "<n>" : "<value>"}`,
      [spec.description.replaceAll("`", ""), range, spec.required === true ? "Required." : ""]
        .filter((part) => part !== "")
        .join(" "),
    );
    if (spec.default !== undefined) option.default(spec.default);
    if (spec.env !== undefined) option.env(spec.env);
    command.addOption(option);
  }
  return command;
}

/** The values of `table`'s options that were typed on the command line (not defaults, not env). */
export function typedOptions(command: Command, table: OptionTable): RawOptions {
  const values: Record<string, string> = {};
  for (const [key, spec] of Object.entries(table)) {
    // commander keys an option by its flag in camel case (`--drain-timeout` -> drainTimeout).
    const name = new Option(`--${spec.flag} <value>`).attributeName();
    if (command.getOptionValueSource(name) !== "cli") continue;
    const value: unknown = command.getOptionValue(name);
    if (typeof value === "string") values[key] = value;
  }
  return values;
}

/** The flags of `argv` for `table` alone, as the CLI reads them (throws CommanderError on a mistake). */
export function parseTableFlags(table: OptionTable, argv: readonly string[]): RawOptions {
  const command = addTableOptions(new Command(), table)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  command.parse([...argv], { from: "user" });
  return typedOptions(command, table);
}
