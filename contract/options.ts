/**
 * Declarative option tables: each option has a flag, an environment variable, a default, bounds
 * and a description. One table drives the command line (cli/), validation, the operator's
 * Deployment, the local demo and the generated configuration reference. Imports nothing.
 */
export interface OptionSpec {
  readonly flag: string;
  /** The environment variable; command-line-only options (demo, run) have none. */
  readonly env?: string;
  readonly type: "string" | "int" | "enum";
  readonly description: string;
  readonly default?: string | number;
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly values?: readonly string[];
  /** Secret values are never echoed back in errors or logs. */
  readonly secret?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;
type ValueOf<S extends OptionSpec> = S["type"] extends "int" ? number : string;
/** Options with a default or required always have a value; the others may be unset. */
export type ParsedOptions<T extends OptionTable> = {
  [K in keyof T]: T[K] extends { readonly default: string | number } | { readonly required: true }
    ? ValueOf<T[K]>
    : ValueOf<T[K]> | undefined;
} & {};

/** Raw option text keyed by option name (not flag): what a command line or an environment gives. */
export type RawOptions = Readonly<Record<string, string | undefined>>;

/** Invalid configuration: every problem, each naming its flag or variable; secrets redacted. */
export class InvalidConfigError extends Error {
  override readonly name = "InvalidConfigError";
  readonly code = "InvalidConfig";
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.problems = problems;
  }
}

/** The log level option; the worker and the operator share its variable. */
export const LOG_LEVEL_OPTION = {
  flag: "log-level",
  env: "FLOXIDE_LOG_LEVEL",
  type: "enum",
  values: ["trace", "debug", "info", "warn", "error", "fatal", "silent"],
  default: "info",
  description: "pino log level.",
} as const satisfies OptionSpec;

/** The HTTP port and host options of a process whose variables start with `envPrefix`. */
export function httpOptions<P extends string>(envPrefix: P) {
  return {
    port: {
      flag: "port",
      env: `${envPrefix}_PORT`,
      type: "int",
      default: 8080,
      min: 0,
      max: 65535,
      description: "HTTP port of /healthz, /readyz and /metrics (0 = any free port).",
    },
    host: {
      flag: "host",
      env: `${envPrefix}_HOST`,
      type: "string",
      default: "0.0.0.0",
      description: "HTTP listen address.",
    },
  } as const satisfies OptionTable;
}

/** One option's text checked against its spec: the value, or the problem. */
export function checkOption(
  spec: OptionSpec,
  text: string,
  source: string,
): { readonly value: string | number } | { readonly problem: string } {
  const shown = spec.secret === true ? "<redacted>" : `'${text}'`;
  if (spec.type === "int") {
    const value = Number(text);
    if (
      text.trim() === "" ||
      !Number.isInteger(value) ||
      (spec.min !== undefined && value < spec.min) ||
      (spec.max !== undefined && value > spec.max)
    ) {
      return {
        problem: `${source} must be an integer from ${spec.min ?? "-inf"} to ${spec.max ?? "inf"}, got ${shown}`,
      };
    }
    return { value };
  }
  if (spec.type === "enum" && !(spec.values ?? []).includes(text)) {
    return { problem: `${source} must be one of ${(spec.values ?? []).join(", ")}, got ${shown}` };
  }
  return { value: text };
}

/**
 * Flags win over environment variables, which win over defaults; an empty variable counts as
 * unset. Every problem is reported at once (InvalidConfigError).
 */
export function resolveOptions<T extends OptionTable>(
  table: T,
  flags: RawOptions,
  env: RawOptions,
): ParsedOptions<T> {
  const result: Record<string, string | number> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const fromFlag = flags[key];
    const fromEnv = spec.env === undefined || env[spec.env] === "" ? undefined : env[spec.env];
    const text = fromFlag ?? fromEnv;
    if (text === undefined) {
      if (spec.default !== undefined) result[key] = spec.default;
      else if (spec.required === true)
        problems.push(
          `${spec.env === undefined ? `--${spec.flag}` : `${spec.env} (or --${spec.flag})`} is required: ${spec.description}`,
        );
      continue;
    }
    const checked = checkOption(spec, text, fromFlag !== undefined ? `--${spec.flag}` : (spec.env ?? ""));
    if ("problem" in checked) problems.push(checked.problem);
    else result[key] = checked.value;
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return result as ParsedOptions<T>;
}

/** `--flag value` pairs for the given option values, in table order (to start a process). */
export function optionArgs<T extends OptionTable>(
  table: T,
  values: { readonly [K in keyof T]?: string | number | undefined },
): string[] {
  const args: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const value = values[key];
    if (value !== undefined) args.push(`--${spec.flag}`, String(value));
  }
  return args;
}

/** The variable names and values for the given option values, in table order. */
export function optionEnv<T extends OptionTable>(
  table: T,
  values: { readonly [K in keyof T]?: string | number | undefined },
): { name: string; value: string }[] {
  const env: { name: string; value: string }[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const value = values[key];
    if (value !== undefined && spec.env !== undefined) env.push({ name: spec.env, value: String(value) });
  }
  return env;
}

/** The help line's tail of an option: its range or choices. */
export function optionRange(spec: OptionSpec): string {
  if (spec.type === "enum") return `One of ${spec.values?.map((v) => `\`${v}\``).join(", ")}.`;
  if (spec.type === "int" && spec.min !== undefined) return `Integer, ${spec.min} to ${spec.max ?? "∞"}.`;
  return "";
}

/** A Markdown table of the options, for the configuration reference. */
export function optionsReference(table: OptionTable): string {
  const rows = Object.values(table).map((spec) => {
    const range = optionRange(spec);
    const fallback =
      spec.required === true ? "required" : spec.default === undefined ? "unset" : `\`${spec.default}\``;
    return `| \`--${spec.flag}\` | ${spec.env === undefined ? "-" : `\`${spec.env}\``} | ${fallback} | ${spec.description}${range === "" ? "" : ` ${range}`} |`;
  });
  return (
    ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n") + "\n"
  );
}
