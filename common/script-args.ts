/**
 * The arguments of the project's own TypeScript scripts (benchmarks, generators): `--help` / `-h`
 * prints the usage and exits 0; a flag it does not know or too many arguments print what was
 * wrong and the usage, and exit 2, before the script writes anything.
 */
export function scriptArgs(
  usage: string,
  options: { flags?: readonly string[]; positionals?: number; argv?: readonly string[] } = {},
): string[] {
  const args = (options.argv ?? process.argv).slice(2);
  const text = usage.endsWith("\n") ? usage : `${usage}\n`;
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(text);
    process.exit(0);
  }
  const flags = options.flags ?? [];
  const unknown = args.filter((arg) => arg.startsWith("-") && !flags.includes(arg));
  const positionals = args.filter((arg) => !arg.startsWith("-"));
  const extra = positionals.slice(options.positionals ?? 0);
  if (unknown.length > 0 || extra.length > 0) {
    process.stderr.write(`unknown argument ${[...unknown, ...extra].join(" ")}\n${text}`);
    process.exit(2);
  }
  return args;
}
