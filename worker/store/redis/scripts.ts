/**
 * Loads the Lua scripts once (each `.lua` file next to this one, named after its operation,
 * with `--@include <name>` lines replaced by `includes/<name>.lua`) and calls them by cached
 * SHA: EVALSHA, falling back to EVAL when a server (a restarted one, a new Cluster node) does
 * not have the script yet; EVAL caches it there for the next call.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { FloxideError } from "../../sdk/index.ts";
import type { RedisClient } from "./connection.ts";

export const SCRIPT_NAMES = [
  "claim",
  "commit",
  "extend",
  "release",
  "reclaim",
  "create-run",
  "pause-run",
  "resume-run",
  "cancel-run",
  "save-checkpoint",
  "heartbeat",
  "list-workers",
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface LoadedScript {
  readonly name: ScriptName;
  readonly lua: string;
  readonly sha: string;
}

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), "utf8");

/** The script's source with its includes inlined (each include at most once). */
export function expandScript(name: string): string {
  const included = new Set<string>();
  const expand = (source: string): string =>
    source.replace(/^--@include ([a-z-]+)$/gm, (_line, include: string) => {
      if (included.has(include)) return "";
      included.add(include);
      return expand(read(`./includes/${include}.lua`));
    });
  return expand(read(`./${name}.lua`));
}

let loaded: ReadonlyMap<ScriptName, LoadedScript> | undefined;

/** Every script, read and hashed on first use; the files do not change while the process runs. */
export function loadScripts(): ReadonlyMap<ScriptName, LoadedScript> {
  loaded ??= new Map(
    SCRIPT_NAMES.map((name) => {
      const lua = expandScript(name);
      return [name, { name, lua, sha: createHash("sha1").update(lua).digest("hex") }];
    }),
  );
  return loaded;
}

const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith("NOSCRIPT");

/** Runs one script. Any failure is a StoreUnavailable error naming the script. */
export async function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const script = loadScripts().get(name) as LoadedScript;
  try {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return await client.eval(script.lua, keys.length, ...keys, ...args);
    }
  } catch (error) {
    throw new FloxideError(
      "StoreUnavailable",
      `redis script '${name}' failed: ${(error as Error).message}`,
      { script: name },
      { cause: error },
    );
  }
}
