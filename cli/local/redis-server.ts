/**
 * A throwaway redis-server process: a free loopback port, its own temp dir (log file inside),
 * ready when it answers PING, stopped with SIGTERM (dir removed) or killed with SIGKILL (dir kept,
 * so `restart()` brings the same data back with AOF). The local demo/dev loop and the tests'
 * Redis helper both start their servers here. Every server still running when this process
 * exits is SIGKILLed, so a crash or an early exit leaves no Redis behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { Redis } from "ioredis";
import { FloxideError } from "../../worker/sdk/index.ts";

export const LOOPBACK = "127.0.0.1";

export interface RedisServerOptions {
  /** The executable (default `redis-server`, looked up on PATH by the OS). */
  readonly binary?: string;
  /** Arguments after the port/bind/dir/logfile ones, e.g. ["--save", "", "--appendonly", "no"]. */
  readonly args?: readonly string[];
  /** Arguments before them: a config file, `--sentinel`. */
  readonly leading?: readonly string[];
  /** The server's dir (it becomes the server's; `stop()` removes it). Default: a new temp dir. */
  readonly dir?: string;
  /** Default: a free loopback port (with port + 10000 free too when `clusterBus`). */
  readonly port?: number;
  readonly clusterBus?: boolean;
  /** How long to wait for PING (default 10 s). */
  readonly readyTimeoutMs?: number;
  /**
   * Its own process group, so a Ctrl-C in the terminal does not stop Redis before the workers
   * have drained into it (the local loop stops it itself at the end).
   */
  readonly detached?: boolean;
}

export interface RedisServerProcess {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** SIGTERM, wait for exit, remove the dir. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit; the dir stays for `restart()`. */
  kill(): Promise<void>;
  /** Stops (if running) and starts again on the same port and dir. */
  restart(): Promise<void>;
}

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

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolve(true)));
  });
}

/** A free loopback port; `clusterBus` also needs port + 10000 free (Redis Cluster's bus). */
export async function freePort(clusterBus = false): Promise<number> {
  for (let tries = 0; tries < 50; tries += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
      });
    });
    if (!clusterBus) return port;
    if (port + 10000 <= 65535 && (await portIsFree(port + 10000))) return port;
  }
  throw new FloxideError("StoreUnavailable", "no free loopback port pair for a Redis Cluster node");
}

/**
 * `use` on a fresh connection to one server that gives up at once instead of reconnecting (a
 * probe of a server that may not be up yet); disconnected afterwards.
 */
export async function withOneShotClient<T>(
  port: number,
  host: string,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** True when the server answers PING. */
export function pingOnce(port: number, host = LOOPBACK): Promise<boolean> {
  return withOneShotClient(port, host, async (client) => (await client.ping()) === "PONG").catch(() => false);
}

const running = new Set<ChildProcess>();
const killRunning = (): void => {
  for (const child of running) child.kill("SIGKILL");
};

function track(child: ChildProcess): void {
  if (running.size === 0) process.once("exit", killRunning);
  running.add(child);
  child.once("exit", () => {
    running.delete(child);
    if (running.size === 0) process.removeListener("exit", killRunning);
  });
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, "redis.log"), "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

async function spawnReady(
  binary: string,
  port: number,
  dir: string,
  options: RedisServerOptions,
): Promise<ChildProcess> {
  const argv = [
    ...(options.leading ?? []),
    ...["--port", String(port), "--bind", LOOPBACK, "--dir", dir, "--logfile", join(dir, "redis.log")],
    ...(options.args ?? []),
  ];
  const child = spawn(binary, argv, { stdio: "ignore", detached: options.detached === true });
  track(child);
  let failure: Error | undefined;
  child.once("error", (error) => (failure = error));
  child.once("exit", (code, signal) => (failure ??= new Error(`exited (${code ?? signal})`)));
  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (failure === undefined && (await pingOnce(port))) return child;
    if (failure !== undefined || Date.now() > deadline) {
      child.kill("SIGKILL");
      await waitForExit(child);
      const why = failure?.message ?? `no answer to PING within ${timeoutMs} ms`;
      throw new FloxideError(
        "StoreUnavailable",
        `${binary} on port ${port}: ${why}\n${logTail(dir)}`,
        {},
        failure === undefined ? undefined : { cause: failure },
      );
    }
    await delay(25);
  }
}

/** Starts redis-server and resolves once it answers PING; on failure the dir is removed. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
  const binary = options.binary ?? "redis-server";
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "floxide-redis-"));
  const port = options.port ?? (await freePort(options.clusterBus === true));
  let child: ChildProcess | null;
  try {
    child = await spawnReady(binary, port, dir, options);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (child === null) return;
    const current = child;
    child = null;
    current.kill(signal);
    await waitForExit(current);
  };
  return {
    url: `redis://${LOOPBACK}:${port}`,
    host: LOOPBACK,
    port,
    dir,
    stop: async () => {
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => halt("SIGKILL"),
    restart: async () => {
      await halt("SIGTERM");
      child = await spawnReady(binary, port, dir, options);
    },
  };
}
