/**
 * Declarative option tables: each option has a flag, an environment variable, a default and a
 * description. One table drives parsing, validation and the generated configuration reference.
 */
import { FloxideError } from "../sdk/index.ts";

export interface OptionSpec {
  readonly flag: string;
  readonly env: string;
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
export type ParsedOptions<T extends OptionTable> = {
  [K in keyof T]: T[K]["type"] extends "int" ? number : string;
} & {};

type Raw = Record<string, string | undefined>;

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

/** Reads `--flag value` / `--flag=value` pairs; anything else is a usage error naming it. */
export function readFlags(argv: readonly string[], table: OptionTable): Raw {
  const byFlag = new Map(Object.entries(table).map(([key, spec]) => [spec.flag, key]));
  const raw: Raw = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const [flag, inline] = arg.startsWith("--")
      ? arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined]
      : [arg, undefined];
    const key = byFlag.get(flag.replace(/^--/, ""));
    if (key === undefined) {
      throw new FloxideError(
        "InvalidConfig",
        `unknown option '${arg}' (known: ${[...byFlag.keys()].map((f) => `--${f}`).join(", ")})`,
      );
    }
    const value = inline ?? argv[i + 1];
    if (inline === undefined) i += 1;
    if (value === undefined)
      throw new FloxideError("InvalidConfig", `option --${flag.replace(/^--/, "")} needs a value`);
    raw[key] = value;
  }
  return raw;
}

/** Flags win over environment variables, which win over defaults. Every problem is reported at once. */
export function resolveOptions<T extends OptionTable>(table: T, flags: Raw, env: Raw): ParsedOptions<T> {
  const result: Record<string, string | number> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const fromFlag = flags[key];
    const fromEnv = env[spec.env];
    const source =
      fromFlag !== undefined ? `--${spec.flag}` : fromEnv !== undefined && fromEnv !== "" ? spec.env : null;
    const text = fromFlag ?? (fromEnv === "" ? undefined : fromEnv);
    if (text === undefined) {
      if (spec.default !== undefined) result[key] = spec.default;
      else if (spec.required === true)
        problems.push(`${spec.env} (or --${spec.flag}) is required: ${spec.description}`);
      continue;
    }
    const shown = spec.secret === true ? "<redacted>" : `'${text}'`;
    if (spec.type === "int") {
      const value = Number(text);
      if (
        !Number.isInteger(value) ||
        (spec.min !== undefined && value < spec.min) ||
        (spec.max !== undefined && value > spec.max)
      ) {
        problems.push(
          `${source} must be an integer from ${spec.min ?? "-inf"} to ${spec.max ?? "inf"}, got ${shown}`,
        );
        continue;
      }
      result[key] = value;
    } else if (spec.type === "enum") {
      if (!(spec.values ?? []).includes(text)) {
        problems.push(`${source} must be one of ${(spec.values ?? []).join(", ")}, got ${shown}`);
        continue;
      }
      result[key] = text;
    } else {
      result[key] = text;
    }
  }
  if (problems.length > 0) {
    throw new FloxideError("InvalidConfig", `invalid configuration:\n  - ${problems.join("\n  - ")}`, {
      problems,
    });
  }
  return result as ParsedOptions<T>;
}

/** A Markdown table of the options, for the configuration reference. */
export function optionsReference(table: OptionTable): string {
  const rows = Object.values(table).map((spec) => {
    const range =
      spec.type === "enum"
        ? ` One of ${spec.values?.map((v) => `\`${v}\``).join(", ")}.`
        : spec.type === "int" && spec.min !== undefined
          ? ` Integer, ${spec.min} to ${spec.max ?? "∞"}.`
          : "";
    const fallback =
      spec.required === true ? "required" : spec.default === undefined ? "unset" : `\`${spec.default}\``;
    return `| \`--${spec.flag}\` | \`${spec.env}\` | ${fallback} | ${spec.description}${range} |`;
  });
  return (
    ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n") + "\n"
  );
}
