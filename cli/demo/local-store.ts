/**
 * Where the local loop (demo, dev) keeps its queue: the Redis named by --redis / FLOXIDE_REDIS_URL,
 * else a throwaway redis-server found on PATH (free loopback port, temp dir, no persistence,
 * stopped at the end), else the embedded memory backend.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { pino } from "pino";
import { FloxideError } from "../../worker/sdk/index.ts";
import { MemoryBackend, redactRedisUrl, type StoreBackend } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";

export type LocalStoreKind = "redis-url" | "redis-server" | "memory";

export interface LocalStore {
  readonly kind: LocalStoreKind;
  readonly backend: StoreBackend;
  /** The Redis URL workers and `floxide run` connect to; undefined on memory. */
  readonly redisUrl: string | undefined;
  readonly keyPrefix: string;
  /** One line for the user: what was picked and why. */
  readonly description: string;
  close(): Promise<void>;
}

export interface LocalStoreOptions {
  /** "auto" picks as described above; "memory" skips Redis. */
  readonly prefer: "auto" | "memory" | "redis";
  readonly keyPrefix: string;
  /** --redis / FLOXIDE_REDIS_URL, when given. */
  readonly redisUrl: string | undefined;
  readonly env: NodeJS.ProcessEnv;
}

const HOST = "127.0.0.1";
const silent = pino({ level: "silent" });

/** The first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function openRedis(url: string, keyPrefix: string): Promise<StoreBackend> {
  const backend = await openRedisBackend(
    { redisUrl: url, redisMode: "standalone", keyPrefix, retentionSeconds: 3600 },
    silent,
  );
  return backend;
}

/** Pings until Redis answers or the deadline passes (the server needs a moment to listen). */
async function pingUntil(backend: StoreBackend, timeoutMs: number, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await backend.ping();
      return;
    } catch (error) {
      if (exited() || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function startRedisServer(binary: string, keyPrefix: string): Promise<LocalStore> {
  const dir = mkdtempSync(join(tmpdir(), "floxide-local-redis-"));
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    ["--port", String(port), "--bind", HOST, "--dir", dir, "--save", "", "--appendonly", "no"],
    // Its own process group: a Ctrl-C in the terminal must not stop Redis before the workers
    // have drained into it; we stop it ourselves at the end (and SIGKILL it if we exit early).
    { stdio: "ignore", detached: true },
  );
  const exited = once(child, "exit");
  let dead = false;
  void exited.then(() => (dead = true));
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    if (!dead) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `redis://${HOST}:${port}`;
  let backend: StoreBackend | undefined;
  try {
    backend = await openRedis(url, keyPrefix);
    await pingUntil(backend, 10_000, () => dead);
  } catch (error) {
    await backend?.close().catch(() => undefined);
    await stop();
    throw new FloxideError(
      "StoreUnavailable",
      `could not start ${binary} on port ${port}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
  const opened = backend;
  return {
    kind: "redis-server",
    backend: opened,
    redisUrl: url,
    keyPrefix,
    description: `redis-server (${binary}) started on ${url}, no persistence, stopped at exit`,
    close: async () => {
      await opened.close();
      await stop();
    },
  };
}

function memoryStore(keyPrefix: string, why: string): LocalStore {
  const backend = new MemoryBackend();
  return {
    kind: "memory",
    backend,
    redisUrl: undefined,
    keyPrefix,
    description: `memory backend with in-process workers (${why})`,
    close: () => backend.close(),
  };
}

export async function openLocalStore(options: LocalStoreOptions): Promise<LocalStore> {
  const { env, keyPrefix } = options;
  if (options.prefer === "memory") return memoryStore(keyPrefix, "--backend memory");
  const url = options.redisUrl;
  if (url !== undefined && url !== "") {
    const backend = await openRedis(url, keyPrefix);
    try {
      await pingUntil(backend, 3000, () => false);
    } catch (error) {
      await backend.close().catch(() => undefined);
      throw new FloxideError(
        "StoreUnavailable",
        `Redis at ${redactRedisUrl(url)} (from --redis or FLOXIDE_REDIS_URL) is not reachable: ${(error as Error).message}`,
        {},
        { cause: error },
      );
    }
    return {
      kind: "redis-url",
      backend,
      redisUrl: url,
      keyPrefix,
      description: `Redis at ${redactRedisUrl(url)} (from --redis or FLOXIDE_REDIS_URL), key prefix '${keyPrefix}'`,
      close: () => backend.close(),
    };
  }
  const binary = findOnPath("redis-server", env.PATH);
  if (binary !== undefined) return startRedisServer(binary, keyPrefix);
  if (options.prefer === "redis")
    throw new FloxideError(
      "StoreUnavailable",
      "--backend redis: give --redis (or FLOXIDE_REDIS_URL) or put redis-server on PATH",
    );
  return memoryStore(keyPrefix, "no --redis or FLOXIDE_REDIS_URL, and no redis-server on PATH");
}
