/**
 * Real Redis servers for tests. Where `startRedis()` gets its server is FLOXIDE_TEST_REDIS:
 *   auto (default)  a container (testcontainers) when a container engine answers, else `local`
 *   local           `redis-server` from PATH on a free loopback port with its own temp dir
 *   container       a Redis container started by testcontainers (needs Docker or Podman)
 *   redis://...     a running server (REDIS_URL is read as a fallback for this)
 * `startRedisCluster()` and `startRedisSentinel()` always spawn local processes (or use
 * REDIS_CLUSTER_NODES). Every spawned server is killed when the test process exits, even if a
 * test forgot to stop it; a container is removed by testcontainers' reaper.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { waitFor } from "./wait.ts";

export interface RedisServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** True for REDIS_URL: a server this helper neither stops nor restarts. */
  readonly external: boolean;
  /** `rediss://` URL of the TLS port, when started with `tls`. */
  readonly tlsUrl?: string;
  /** SIGTERM, wait for exit, remove the temp dir. */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same port and dir (data survives with AOF). */
  restart(): Promise<void>;
  /** SIGKILL, wait for exit; `restart()` brings it back. */
  kill(): Promise<void>;
}

export interface StartRedisOptions {
  /** Append-only file with fsync on every write, so data survives kill + restart. */
  readonly appendonly?: boolean;
  /** More `redis-server` arguments, e.g. ["--requirepass", "secret"]. */
  readonly args?: readonly string[];
  /** How long to wait for the server to answer PING (default 10 s). */
  readonly readyTimeoutMs?: number;
  /** Also listen with TLS (PEM files); the plain port stays open for the readiness check. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

export interface RedisSentinel {
  readonly host: string;
  readonly port: number;
  /** The master group name it monitors. */
  readonly name: string;
  stop(): Promise<void>;
}

export interface RedisClusterServer {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  /** `redis://host:port?cluster=true&nodes=...`, understood by the store's connection parser. */
  readonly url: string;
  readonly external: boolean;
  stop(): Promise<void>;
}

const HOST = "127.0.0.1";
const INSTALL_HINT =
  "redis-server was not found on PATH. Run `bash scripts/provision.sh redis` (npm test does; or " +
  "`apt-get install -y redis-server redis-tools`), or set FLOXIDE_TEST_REDIS=container with a Docker " +
  "engine, or FLOXIDE_TEST_REDIS=redis://host:port for a running Redis.";
/** The image of FLOXIDE_TEST_REDIS=container: the Redis line the local package provides (7.x). */
const REDIS_IMAGE = "redis:7.4-alpine";

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

function requireBinary(name: string): void {
  const probe = spawnSync(name, ["--version"], { stdio: "ignore" });
  if (probe.error !== undefined)
    throw new Error(name === "redis-server" ? INSTALL_HINT : `${name}: ${INSTALL_HINT}`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** A free loopback port; `clusterBus` also needs port + 10000 free (Redis Cluster's bus). */
async function freePort(clusterBus = false): Promise<number> {
  for (let tries = 0; tries < 50; tries += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, HOST, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
      });
    });
    if (!clusterBus) return port;
    if (port + 10000 <= 65535 && (await portIsFree(port + 10000))) return port;
  }
  throw new Error("no free port pair for a Redis Cluster node");
}

/** One PING over a fresh connection that gives up at once instead of reconnecting. */
async function ping(port: number, host = HOST): Promise<boolean> {
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
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
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

/** A redis-server process on `port` in `dir`, answering PING when this resolves. */
async function spawnServer(
  port: number,
  dir: string,
  args: readonly string[],
  readyTimeoutMs: number,
  leading: readonly string[] = [],
) {
  const child = spawn(
    "redis-server",
    [
      ...leading,
      "--port",
      String(port),
      "--bind",
      HOST,
      "--dir",
      dir,
      "--logfile",
      join(dir, "redis.log"),
      ...args,
    ],
    { stdio: "ignore" },
  );
  running.add(child);
  child.once("exit", () => running.delete(child));
  const exited = new AbortController();
  child.once("exit", (code, signal) =>
    exited.abort(new Error(`redis-server on port ${port} exited (${code ?? signal}):\n${logTail(dir)}`)),
  );
  await waitFor(() => ping(port), {
    timeoutMs: readyTimeoutMs,
    intervalMs: 25,
    message: `redis-server on port ${port} to answer PING`,
    signal: exited.signal,
  });
  return child;
}

function externalServer(url: string, what = "FLOXIDE_TEST_REDIS names an external Redis"): RedisServer {
  const parsed = new URL(url);
  const refuse = async (): Promise<never> => {
    throw new Error(
      `${what}: this test needs a server it can restart or kill (use FLOXIDE_TEST_REDIS=local)`,
    );
  };
  return {
    url,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    external: true,
    stop: async () => undefined,
    restart: refuse,
    kill: refuse,
  };
}

type Provider = { kind: "local" } | { kind: "container" } | { kind: "url"; url: string };

/** A container engine's socket, as testcontainers looks for one (DOCKER_HOST first). */
function containerEngineConfigured(): boolean {
  if (process.env.DOCKER_HOST) return true;
  const uid = process.getuid?.() ?? 0;
  return [
    "/var/run/docker.sock",
    join(homedir(), ".docker", "run", "docker.sock"),
    `/run/user/${uid}/podman/podman.sock`,
    `/run/user/${uid}/docker.sock`,
  ].some((path) => existsSync(path));
}

let autoProvider: Promise<Provider> | undefined;

function redisProvider(): Promise<Provider> {
  const setting = process.env.FLOXIDE_TEST_REDIS || process.env.REDIS_URL || "auto";
  if (/^rediss?:\/\//.test(setting)) return Promise.resolve({ kind: "url", url: setting });
  if (setting === "local" || setting === "container") return Promise.resolve({ kind: setting });
  if (setting !== "auto") {
    throw new Error(`FLOXIDE_TEST_REDIS must be auto, local, container or a redis:// URL, not '${setting}'`);
  }
  autoProvider ??= (async (): Promise<Provider> => {
    if (!containerEngineConfigured()) return { kind: "local" };
    try {
      const { getContainerRuntimeClient } = await import("testcontainers");
      await getContainerRuntimeClient();
      return { kind: "container" };
    } catch {
      return { kind: "local" };
    }
  })();
  return autoProvider;
}

/**
 * Redis in a container (FLOXIDE_TEST_REDIS=container). It cannot be killed and brought back on
 * the same port, so it counts as external for the tests that crash Redis (they skip, saying so).
 */
async function startContainerRedis(options: StartRedisOptions): Promise<RedisServer> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const tls = options.tls;
  const files = tls === undefined ? [] : [tls.certFile, tls.keyFile, tls.caFile];
  const args = [
    ...(tls === undefined
      ? []
      : ["--tls-port", "6380", "--tls-cert-file", tls.certFile, "--tls-key-file", tls.keyFile]),
    ...(tls === undefined ? [] : ["--tls-ca-cert-file", tls.caFile, "--tls-auth-clients", "no"]),
    ...["--save", "", "--appendonly", options.appendonly === true ? "yes" : "no"],
    ...(options.args ?? []),
  ];
  const container = await new GenericContainer(REDIS_IMAGE)
    .withExposedPorts(...(tls === undefined ? [6379] : [6379, 6380]))
    .withCopyFilesToContainer(files.map((source) => ({ source, target: source })))
    .withCommand(["redis-server", ...args])
    .withWaitStrategy(Wait.forLogMessage("Ready to accept connections"))
    .withStartupTimeout(options.readyTimeoutMs ?? 60_000)
    .start();
  const host = container.getHost();
  const port = container.getMappedPort(6379);
  const server = externalServer(`redis://${host}:${port}`, `FLOXIDE_TEST_REDIS=container`);
  return {
    ...server,
    ...(tls === undefined ? {} : { tlsUrl: `rediss://${host}:${container.getMappedPort(6380)}` }),
    stop: async () => {
      await container.stop();
    },
  };
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const provider = await redisProvider();
  if (provider.kind === "url") return externalServer(provider.url);
  if (provider.kind === "container") return startContainerRedis(options);
  requireBinary("redis-server");
  installExitHook();
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), "floxide-redis-"));
  const port = await freePort();
  const tlsPort = options.tls === undefined ? undefined : await freePort();
  const tlsArgs =
    options.tls === undefined
      ? []
      : [
          ...["--tls-port", String(tlsPort), "--tls-cert-file", options.tls.certFile],
          ...["--tls-key-file", options.tls.keyFile, "--tls-ca-cert-file", options.tls.caFile],
          ...["--tls-auth-clients", "no"],
        ];
  const args = [
    ...tlsArgs,
    "--save",
    "",
    ...(options.appendonly === true
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"]),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | null = await spawnServer(port, dir, args, readyTimeoutMs);
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    if (child === null) return;
    const current = child;
    child = null;
    current.kill(signal);
    await waitForExit(current);
  };
  return {
    url: `redis://${HOST}:${port}`,
    host: HOST,
    port,
    external: false,
    ...(tlsPort === undefined ? {} : { tlsUrl: `rediss://${HOST}:${tlsPort}` }),
    stop: async () => {
      await halt("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await halt("SIGTERM");
      child = await spawnServer(port, dir, args, readyTimeoutMs);
    },
    kill: () => halt("SIGKILL"),
  };
}

/** A Sentinel process monitoring `master` under `name` (quorum 1), answering when this resolves. */
export async function startRedisSentinel(master: RedisServer, name = "mymaster"): Promise<RedisSentinel> {
  requireBinary("redis-server");
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "floxide-sentinel-"));
  const port = await freePort();
  // Sentinel rewrites its config file, so it gets one of its own in the temp dir.
  const config = join(dir, "sentinel.conf");
  writeFileSync(config, `sentinel monitor ${name} ${master.host} ${master.port} 1\n`);
  const child = await spawnServer(port, dir, [], 10_000, [config, "--sentinel"]);
  return {
    host: HOST,
    port,
    name,
    stop: async () => {
      child.kill("SIGTERM");
      await waitForExit(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function clusterInfo(port: number): Promise<string> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    return String(await client.call("CLUSTER", "INFO"));
  } finally {
    client.disconnect();
  }
}

/** A local Redis Cluster of `masters` (default 3) redis-server processes, no replicas. */
export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisClusterServer> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES;
  if (fromEnv !== undefined && fromEnv !== "") {
    const nodes = fromEnv.split(",").map((entry) => {
      const [host = HOST, port = "6379"] = entry.trim().split(":");
      return { host, port: Number(port) };
    });
    const seeds = nodes.map((node) => `${node.host}:${node.port}`).join(",");
    return {
      nodes,
      url: `redis://${seeds.split(",")[0]}?cluster=true&nodes=${seeds}`,
      external: true,
      stop: async () => undefined,
    };
  }
  requireBinary("redis-server");
  requireBinary("redis-cli");
  installExitHook();
  const masters = options.masters ?? 3;
  const servers: { port: number; dir: string; child: ChildProcess }[] = [];
  const stop = async (): Promise<void> => {
    for (const server of servers.splice(0)) {
      server.child.kill("SIGTERM");
      await waitForExit(server.child);
      rmSync(server.dir, { recursive: true, force: true });
    }
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const dir = mkdtempSync(join(tmpdir(), "floxide-redis-cluster-"));
      const port = await freePort(true);
      const args = ["--save", "", "--appendonly", "no", "--cluster-enabled", "yes"];
      args.push("--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "5000");
      servers.push({ port, dir, child: await spawnServer(port, dir, args, 10_000) });
    }
    const addresses = servers.map((server) => `${HOST}:${server.port}`);
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (create.status !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`,
      );
    }
    await waitFor(
      async () => {
        const infos = await Promise.all(servers.map((server) => clusterInfo(server.port)));
        return infos.every(
          (info) => info.includes("cluster_state:ok") && info.includes(`cluster_known_nodes:${masters}`),
        );
      },
      { timeoutMs: 30_000, intervalMs: 100, message: "every cluster node to report cluster_state:ok" },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const nodes = servers.map((server) => ({ host: HOST, port: server.port }));
  const seeds = nodes.map((node) => `${node.host}:${node.port}`).join(",");
  return {
    nodes,
    url: `redis://${HOST}:${nodes[0]?.port}?cluster=true&nodes=${seeds}`,
    external: false,
    stop,
  };
}
