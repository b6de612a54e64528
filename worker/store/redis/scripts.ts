/**
 * The store's Redis Functions: one library, loaded with FUNCTION LOAD REPLACE once per client
 * (on every master of a Cluster) and called with FCALL.
 *
 * Each operation stays one `.lua` file next to this one, named after it, documenting its KEYS,
 * ARGV, reply and invariant at the top (BullMQ's habit). Its `--@keys` line lists the keys it
 * receives, in order: workflow key names (keys.ts) and `run`, the run's hash. The library is
 * composed at load time: the shared helpers of `includes/` once, then each operation's body as a
 * function registered under `<library>_<operation>` (the helpers a file defines above a `--@body`
 * line are defined once, at load, not on every call). The library's name carries a hash of its
 * source, so workers of two releases sharing one Redis during an upgrade each call their own
 * code, and a REPLACE never swaps code under a running worker.
 *
 * Redis forgets functions on a restart without persistence, FLUSHALL, FUNCTION FLUSH or a
 * failover to a node that never got them: a call answered "Function not found" loads the library
 * again and is retried once. Redis >= 7.0 is required (Functions); an older server gets a clear
 * error naming the version it reported.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Cluster } from "ioredis";
import { FloxideError } from "../../sdk/index.ts";
import type { RedisClient } from "./connection.ts";
import { WORKFLOW_KEY_NAMES, type WorkflowKeyName, type WorkflowKeys } from "./keys.ts";

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
  "read-runs",
  "read-depth",
  "stage",
  "redrive",
  "write-rollout",
  "forget-version",
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

/** A key a function receives: a workflow key, or `run` (the hash of the run it acts on). */
export type FunctionKey = WorkflowKeyName | "run";

/** Shared helpers, in dependency order (each may use the ones before it). */
const INCLUDES = ["base", "items", "runs", "joins", "claim", "workers"] as const;

export interface FunctionLibrary {
  readonly name: string;
  readonly source: string;
  /** The keys each function receives, in order (from its `--@keys` line). */
  readonly keys: ReadonlyMap<ScriptName, readonly FunctionKey[]>;
}

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), "utf8");
const luaName = (name: string): string => name.replace(/-/g, "_");
const words = (line: string | undefined): string[] => (line ?? "").trim().split(/\s+/).filter(Boolean);

function keysOf(name: ScriptName, source: string): FunctionKey[] {
  const line = /^--@keys(.*)$/m.exec(source);
  if (line === null) throw new Error(`${name}.lua has no --@keys line`);
  const keys = (line[1] as string).trim().split(/\s+/).filter(Boolean);
  for (const key of keys) {
    if (key !== "run" && !(WORKFLOW_KEY_NAMES as readonly string[]).includes(key)) {
      throw new Error(`${name}.lua receives unknown key '${key}'`);
    }
  }
  return keys as FunctionKey[];
}

let library: FunctionLibrary | undefined;

/** The composed library, built on first use; the files do not change while the process runs. */
export function loadLibrary(): FunctionLibrary {
  if (library !== undefined) return library;
  const keys = new Map<ScriptName, readonly FunctionKey[]>();
  const parts = INCLUDES.map((include) => read(`./includes/${include}.lua`));
  const bodies = SCRIPT_NAMES.map((name) => {
    const source = read(`./${name}.lua`);
    const fields = keysOf(name, source).map((key) => `'${luaName(key)}'`);
    keys.set(name, keysOf(name, source));
    // `--@flags no-writes`: a read, allowed on replicas and when Redis is out of memory.
    const flags = words(/^--@flags(.*)$/m.exec(source)?.[1]);
    // The keys begin() checks the type of (one TYPE each): every key but those the function
    // reads, or writes first, before any other write on every path (`--@read-first`: the
    // command fails with WRONGTYPE before anything is written), those it checks itself only on
    // the paths that write them (`--@checked-late`, key_problem() in base.lua), and none for a
    // function that writes nothing.
    const readFirst = [
      ...words(/^--@read-first(.*)$/m.exec(source)?.[1]),
      ...words(/^--@checked-late(.*)$/m.exec(source)?.[1]),
    ];
    const names = keysOf(name, source);
    for (const key of readFirst) {
      if (!(names as readonly string[]).includes(key))
        throw new Error(`${name}.lua: read-first key '${key}' not in --@keys`);
    }
    const checked = flags.includes("no-writes")
      ? []
      : names.flatMap((key, i) => (readFirst.includes(key) ? [] : [i + 1]));
    return { name, source, fields, flags, checked };
  });
  const hash = createHash("sha1")
    .update(parts.join("\n"))
    .update(bodies.map((body) => body.source).join("\n"))
    .digest("hex")
    .slice(0, 12);
  const name = `floxide_${hash}`;
  // A `--@body` line splits a file: the helpers above it are defined once, at FUNCTION LOAD (no
  // closures made anew on every call), the body below runs per call. Each operation's code is a
  // `do` block: its locals end there (Lua allows 200 in one scope).
  const functions = bodies.map(({ name: op, source, fields, flags, checked }) => {
    const split = /^--@body$/m.exec(source);
    const helpers = split === null ? "" : source.slice(0, split.index);
    const body = split === null ? source : source.slice(split.index);
    return (
      `-- ${op}.lua\ndo\nlocal KEYS_${luaName(op)} = { ${fields.join(", ")} }\n` +
      `local CHECKED_${luaName(op)} = { ${checked.join(", ")} }\n${helpers}\n` +
      `local function body_${luaName(op)}(KEYS, ARGV)\n${body}\nend\n` +
      `redis.register_function{ function_name = '${name}_${luaName(op)}', ` +
      `flags = { ${flags.map((flag) => `'${flag}'`).join(", ")} }, callback = function(KEYS, ARGV)\n` +
      `  local problem = begin(KEYS_${luaName(op)}, KEYS, ARGV, CHECKED_${luaName(op)})\n` +
      `  if problem then return redis.error_reply('CORRUPT ' .. problem) end\n` +
      `  local reply = body_${luaName(op)}(KEYS, ARGV)\n` +
      `  end_call()\n  return reply\nend }\nend\n`
    );
  });
  library = { name, source: [`#!lua name=${name}`, ...parts, ...functions].join("\n"), keys };
  return library;
}

const keyCache = new WeakMap<WorkflowKeys, Map<ScriptName, readonly string[]>>();

/** The KEYS of one function for one workflow, as its `--@keys` line names them. */
export function keysFor(keys: WorkflowKeys, name: ScriptName, runId?: string): readonly string[] {
  let byName = keyCache.get(keys);
  if (byName === undefined) keyCache.set(keys, (byName = new Map()));
  let cached = byName.get(name);
  if (cached === undefined) {
    cached = (loadLibrary().keys.get(name) ?? []).map((key) => (key === "run" ? "" : keys.key(key)));
    byName.set(name, cached);
  }
  if (!cached.includes("")) return cached;
  if (runId === undefined) throw new Error(`function '${name}' needs a run id for its keys`);
  return cached.map((key) => (key === "" ? keys.run("run", runId) : key));
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const isMissing = (error: unknown): boolean => /function not found|library not found/i.test(message(error));

/** Loads (or finds loaded) the library per client; one load in flight at a time. */
const loads = new WeakMap<RedisClient, Promise<void>>();

async function loadOn(node: RedisClient, source: string): Promise<void> {
  try {
    await node.call("FUNCTION", "LOAD", "REPLACE", source);
  } catch (error) {
    if (/unknown command/i.test(message(error))) {
      let version = "unknown";
      try {
        version = /redis_version:(\S+)/.exec(String(await node.info("server")))?.[1] ?? version;
      } catch {
        // The version only improves the message.
      }
      throw new FloxideError(
        "InvalidConfig",
        `floxide needs Redis >= 7.0 (Redis Functions); the server reports version ${version}: ${message(error)}`,
        { redisVersion: version },
        { cause: error },
      );
    }
    throw error;
  }
}

/** A Cluster client knows its masters once it is ready (it connects lazily). */
async function masters(cluster: Cluster): Promise<RedisClient[]> {
  if (cluster.status !== "ready") {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cluster.off("ready", onReady);
        reject(new Error("the cluster did not become ready within 10 s"));
      }, 10_000);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      cluster.once("ready", onReady);
    });
  }
  return cluster.nodes("master");
}

/** FUNCTION LOAD REPLACE of the library on the client's server, or every master of a Cluster. */
export function ensureLibrary(client: RedisClient, reload = false): Promise<void> {
  let load = reload ? undefined : loads.get(client);
  if (load === undefined) {
    const { source } = loadLibrary();
    load = (async () => {
      const nodes = client instanceof Cluster ? await masters(client) : [client];
      await Promise.all(nodes.map((node) => loadOn(node, source)));
    })();
    loads.set(client, load);
    // A failed load is tried again by the next call, not remembered.
    load.catch(() => {
      if (loads.get(client) === load) loads.delete(client);
    });
  }
  return load;
}

/** The type each key a function receives must have (base.lua's KEY_TYPES). */
const KEY_TYPES: Record<FunctionKey, string> = {
  layout: "string",
  ready: "list",
  leases: "zset",
  "lease-items": "hash",
  delayed: "zset",
  wake: "zset",
  dead: "list",
  errors: "list",
  metrics: "hash",
  runs: "zset",
  expiring: "zset",
  workers: "hash",
  "reclaim-guard": "string",
  "worker-expiry": "zset",
  versions: "hash",
  run: "hash",
};

/**
 * After a WRONGTYPE (a `--@read-first` key, whose TYPE the function skips, failed its first
 * read before any write): names the keys of the wrong type, as begin() would have. Costs only
 * on this error path.
 */
async function wrongTypes(client: RedisClient, name: ScriptName, keys: readonly string[]): Promise<string> {
  const names = loadLibrary().keys.get(name) ?? [];
  const found: string[] = [];
  try {
    for (let i = 0; i < keys.length; i += 1) {
      const key = keys[i] as string;
      const expected = KEY_TYPES[names[i] as FunctionKey];
      const actual = await client.type(key);
      if (actual !== "none" && actual !== expected)
        found.push(`key ${key} is a ${actual}, not a ${expected}`);
    }
  } catch {
    return "";
  }
  return found.length > 0 ? ` (CORRUPT ${found.join("; ")})` : "";
}

/**
 * The corrupt key a store error names (`key <name> is a string, not a zset`), or null: the store
 * answers but cannot be used until that key is fixed (worker/engine/store-health.ts).
 */
export function corruptionOf(error: unknown): string | null {
  if (!(error instanceof FloxideError)) return null;
  const corrupt = error.details.corrupt;
  return typeof corrupt === "string" ? corrupt : null;
}

/** Sends one FCALL (its arguments after the command name); by default a plain call on the client. */
export type SendFcall = (fcall: (string | number)[]) => Promise<unknown>;

/**
 * Runs one function. Any failure is a StoreUnavailable error naming it (InvalidConfig for < 7.0).
 * `send`: how the FCALL goes out (the replicated commit pipelines a WAIT after it).
 */
export async function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
  send: SendFcall = (fcall) => client.call("FCALL", fcall),
): Promise<unknown> {
  const fn = `${loadLibrary().name}_${luaName(name)}`;
  try {
    await ensureLibrary(client);
    // One array, appended to: a spread of a long argument list grows the stack.
    const fcall: (string | number)[] = [fn, keys.length];
    for (const key of keys) fcall.push(key);
    for (const arg of args) fcall.push(arg);
    try {
      return await send(fcall);
    } catch (error) {
      if (!isMissing(error)) throw error;
      // Restarted, flushed or failed over since the load: load again, once.
      await ensureLibrary(client, true);
      return await send(fcall);
    }
  } catch (error) {
    if (error instanceof FloxideError) throw error;
    const wrong = /WRONGTYPE/.test(message(error)) ? await wrongTypes(client, name, keys) : "";
    const text = `redis function '${name}' failed: ${message(error)}${wrong}`;
    const corrupt = /CORRUPT (key \S+[^;)]*)/.exec(text)?.[1];
    throw new FloxideError(
      "StoreUnavailable",
      text,
      corrupt === undefined ? { script: name } : { script: name, corrupt },
      { cause: error },
    );
  }
}
