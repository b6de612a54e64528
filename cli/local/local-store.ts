/**
 * Where the local loop (demo, dev) keeps its queue: the Redis named by --redis / FLOXIDE_REDIS_URL,
 * else a throwaway redis-server found on PATH (free loopback port, temp dir, no persistence,
 * stopped at the end), else the embedded memory backend.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { FloxideError } from "../../worker/sdk/index.ts";
import { MemoryBackend, redactRedisUrl, type StoreBackend } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { findOnPath, startRedisServer } from "./redis-server.ts";

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

const silent = pino({ level: "silent" });

async function openRedis(url: string, keyPrefix: string): Promise<StoreBackend> {
  const backend = await openRedisBackend(
    { redisUrl: url, redisMode: "standalone", keyPrefix, retentionSeconds: 3600 },
    silent,
  );
  return backend;
}

async function localRedisServer(binary: string, keyPrefix: string): Promise<LocalStore> {
  const server = await startRedisServer({
    binary,
    dir: mkdtempSync(join(tmpdir(), "floxide-local-redis-")),
    args: ["--save", "", "--appendonly", "no"],
    detached: true,
  });
  let backend: StoreBackend;
  try {
    backend = await openRedis(server.url, keyPrefix);
    await backend.ping();
  } catch (error) {
    await server.stop();
    throw new FloxideError(
      "StoreUnavailable",
      `could not open ${server.url}: ${(error as Error).message}`,
      {},
      { cause: error },
    );
  }
  return {
    kind: "redis-server",
    backend,
    redisUrl: server.url,
    keyPrefix,
    description: `redis-server (${binary}) started on ${server.url}, no persistence, stopped at exit`,
    close: async () => {
      await backend.close();
      await server.stop();
    },
  };
}

/** Pings until Redis answers or the deadline passes. */
async function pingUntil(backend: StoreBackend, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await backend.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
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
      await pingUntil(backend, 3000);
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
  if (binary !== undefined) return localRedisServer(binary, keyPrefix);
  if (options.prefer === "redis")
    throw new FloxideError(
      "StoreUnavailable",
      "--backend redis: give --redis (or FLOXIDE_REDIS_URL) or put redis-server on PATH",
    );
  return memoryStore(keyPrefix, "no --redis or FLOXIDE_REDIS_URL, and no redis-server on PATH");
}
