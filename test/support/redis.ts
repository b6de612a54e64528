/**
 * Real Redis servers for tests. Where `startRedis()` gets its server is FLOXIDE_TEST_REDIS:
 *   auto (default)  a container (testcontainers) when a container engine answers, else `local`
 *   local           `redis-server` from PATH on a free loopback port with its own temp dir
 *   container       a Redis container started by testcontainers (needs Docker or Podman)
 *   redis://...     a running server (REDIS_URL is read as a fallback for this)
 * `startRedisCluster()` and `startRedisSentinel()` always spawn local processes (or use
 * REDIS_CLUSTER_NODES). Local servers come from the launcher `floxide demo`/`dev` use
 * (cli/local/redis-server.ts), which kills every server still running when the test process
 * exits, even if a test forgot to stop it; a container is removed by testcontainers' reaper.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import {
  freePort,
  LOOPBACK as HOST,
  pingOnce,
  startRedisServer,
  type RedisServerProcess,
  withOneShotClient,
} from "../../cli/local/index.ts";
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

export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisClusterServer {
  /** The masters at start, in port order (`startRedisCluster` made them masters). */
  readonly nodes: readonly RedisClusterNode[];
  /** Every node started, masters and replicas. */
  readonly allNodes: readonly RedisClusterNode[];
  /** `redis://host:port?cluster=true&nodes=...`, understood by the store's connection parser. */
  readonly url: string;
  readonly external: boolean;
  stop(): Promise<void>;
  /** The master now serving `key`'s slot. */
  masterOf(key: string): Promise<RedisClusterNode>;
  /** Resolves once every live replica has everything its master wrote so far. */
  waitReplicasInSync(timeoutMs?: number): Promise<void>;
  /**
   * SIGKILLs the master `node` and resolves once a replica of it is promoted and every live node
   * reports cluster_state:ok (about node timeout + election). Needs `replicas: 1`.
   */
  killMaster(
    node: RedisClusterNode,
  ): Promise<{ readonly promoted: RedisClusterNode; readonly tookMs: number }>;
  /**
   * Starts a killed node again (same port and nodes.conf, no data): it rejoins as a replica of
   * the master that replaced it; resolves once it is in sync and the cluster reports ok.
   */
  restartNode(node: RedisClusterNode): Promise<void>;
  /**
   * Makes every replica unresponsive for `ms` (DEBUG SLEEP): masters get no acknowledgement.
   * Resolves once they are asleep; `awake` resolves when they answer again.
   */
  stallReplicas(ms: number): Promise<{ readonly awake: Promise<void> }>;
  /**
   * Closes the replication links of the master `node` (CLIENT KILL TYPE replica): what it writes
   * next reaches no replica until one reconnects (a stalled one cannot), as with a partition.
   */
  cutReplication(node: RedisClusterNode): Promise<void>;
  /** `CLUSTER FAILOVER` on a replica of `node` (no write lost); resolves once the roles swapped. */
  manualFailover(node: RedisClusterNode): Promise<{ readonly promoted: RedisClusterNode }>;
}

export interface RedisClusterOptions {
  /** Masters (default 3). */
  readonly masters?: number;
  /** Replicas per master (default 0). */
  readonly replicas?: number;
  /** cluster-node-timeout: how long a silent node takes to be failed (default 5000 ms). */
  readonly nodeTimeoutMs?: number;
}

const INSTALL_HINT =
  "redis-server was not found on PATH. Run `bash scripts/provision.sh redis` (npm test does; or " +
  "`apt-get install -y redis-server redis-tools`), or set FLOXIDE_TEST_REDIS=container with a Docker " +
  "engine, or FLOXIDE_TEST_REDIS=redis://host:port for a running Redis.";
/** The image of FLOXIDE_TEST_REDIS=container: the Redis line the local package provides (7.x). */
const REDIS_IMAGE = "redis:7.4-alpine";

function requireBinary(name: string): void {
  const probe = spawnSync(name, ["--version"], { stdio: "ignore" });
  if (probe.error !== undefined)
    throw new Error(name === "redis-server" ? INSTALL_HINT : `${name}: ${INSTALL_HINT}`);
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
  const server = await startRedisServer({ args, readyTimeoutMs: options.readyTimeoutMs ?? 10_000 });
  return {
    url: server.url,
    host: server.host,
    port: server.port,
    external: false,
    ...(tlsPort === undefined ? {} : { tlsUrl: `rediss://${server.host}:${tlsPort}` }),
    stop: () => server.stop(),
    restart: () => server.restart(),
    kill: () => server.kill(),
  };
}

/** A Sentinel process monitoring `master` under `name` (quorum 1), answering when this resolves. */
export async function startRedisSentinel(master: RedisServer, name = "mymaster"): Promise<RedisSentinel> {
  requireBinary("redis-server");
  const dir = mkdtempSync(join(tmpdir(), "floxide-sentinel-"));
  // Sentinel rewrites its config file, so it gets one of its own in the temp dir.
  const config = join(dir, "sentinel.conf");
  writeFileSync(config, `sentinel monitor ${name} ${master.host} ${master.port} 1\n`);
  const server = await startRedisServer({ dir, leading: [config, "--sentinel"] });
  return { host: server.host, port: server.port, name, stop: () => server.stop() };
}

function clusterInfo(port: number): Promise<string> {
  return withOneShotClient(port, HOST, async (client) => String(await client.call("CLUSTER", "INFO")));
}

interface NodeLine {
  readonly id: string;
  readonly port: number;
  readonly master: boolean;
  readonly failed: boolean;
  /** The master's id, for a replica. */
  readonly of: string;
  readonly slots: number;
}

/** CLUSTER NODES as one node sees it. */
async function clusterNodes(port: number): Promise<NodeLine[]> {
  const text = await withOneShotClient(port, HOST, async (client) =>
    String(await client.call("CLUSTER", "NODES")),
  );
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id = "", address = "", flags = "", of = "", , , , , ...slots] = line.split(" ");
      return {
        id,
        port: Number(/:(\d+)@/.exec(address)?.[1]),
        master: flags.split(",").includes("master"),
        failed: /(^|,)fail(,|$)/.test(flags),
        of,
        slots: slots.filter((slot) => !slot.startsWith("[")).length,
      };
    });
}

const replication = (port: number): Promise<string> =>
  withOneShotClient(port, HOST, async (client) => String(await client.info("replication")));

const field = (info: string, name: string): string | undefined =>
  new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();

/** A local Redis Cluster: `masters` (default 3) redis-server processes, each with `replicas` replicas. */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
  const fromEnv = process.env.REDIS_CLUSTER_NODES;
  if (fromEnv !== undefined && fromEnv !== "") return externalCluster(fromEnv);
  requireBinary("redis-server");
  requireBinary("redis-cli");
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const total = masters * (1 + replicas);
  const servers: RedisServerProcess[] = [];
  const dead = new Set<number>();
  const stop = async (): Promise<void> => {
    for (const server of servers.splice(0)) await server.stop();
  };
  const live = (): RedisServerProcess[] => servers.filter((server) => !dead.has(server.port));
  const everyNodeOk = async (known: number): Promise<boolean> => {
    const infos = await Promise.all(live().map((server) => clusterInfo(server.port)));
    return infos.every(
      (info) => field(info, "cluster_state") === "ok" && Number(field(info, "cluster_known_nodes")) >= known,
    );
  };
  const waitReplicasInSync = async (timeoutMs = 30_000): Promise<void> => {
    await waitFor(
      async () => {
        const infos = await Promise.all(live().map((server) => replication(server.port)));
        const offsets = new Map<number, number>();
        for (const [i, info] of infos.entries())
          if (field(info, "role") === "master")
            offsets.set(live()[i]?.port ?? 0, Number(field(info, "master_repl_offset")));
        return infos.every((info) => {
          if (field(info, "role") !== "slave") return true;
          const master = offsets.get(Number(field(info, "master_port")));
          return (
            field(info, "master_link_status") === "up" &&
            field(info, "master_sync_in_progress") === "0" &&
            master !== undefined &&
            Number(field(info, "slave_repl_offset")) >= master
          );
        });
      },
      { timeoutMs, intervalMs: 50, message: "every replica to have its master's writes" },
    );
  };
  try {
    for (let i = 0; i < total; i += 1) {
      const dir = mkdtempSync(join(tmpdir(), "floxide-redis-cluster-"));
      const args = ["--save", "", "--appendonly", "no", "--cluster-enabled", "yes"];
      // DEBUG SLEEP stalls a replica (stallReplicas); only from loopback.
      args.push("--enable-debug-command", "local", "--cluster-config-file", join(dir, "nodes.conf"));
      args.push("--cluster-node-timeout", String(options.nodeTimeoutMs ?? 5000));
      servers.push(await startRedisServer({ dir, clusterBus: true, args }));
    }
    const addresses = servers.map((server) => `${HOST}:${server.port}`);
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...addresses, "--cluster-replicas", String(replicas), "--cluster-yes"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (create.status !== 0) {
      throw new Error(
        `redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`,
      );
    }
    await waitFor(() => everyNodeOk(total), {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: "every cluster node to report cluster_state:ok",
    });
    if (replicas > 0) await waitReplicasInSync();
  } catch (error) {
    await stop();
    throw error;
  }
  // redis-cli makes the first `masters` addresses the masters.
  const nodes = servers.slice(0, masters).map((server) => ({ host: HOST, port: server.port }));
  const seeds = servers.map((server) => `${HOST}:${server.port}`).join(",");
  const someLive = (): number => {
    const server = live()[0];
    if (server === undefined) throw new Error("every node of the cluster is down");
    return server.port;
  };
  const replicaOf = async (node: RedisClusterNode): Promise<NodeLine> => {
    const lines = await clusterNodes(node.port);
    const id = lines.find((line) => line.port === node.port)?.id;
    const replica = lines.find((line) => !line.master && !line.failed && line.of === id);
    if (replica === undefined) throw new Error(`master ${node.port} has no live replica`);
    return replica;
  };
  /** Resolves once `port` is a master with slots in every live node's view and the cluster is ok. */
  const waitPromoted = (port: number, timeoutMs: number): Promise<boolean> =>
    waitFor(
      async () => {
        const views = await Promise.all(live().map((server) => clusterNodes(server.port)));
        const promoted = views.every((lines) =>
          lines.some((line) => line.port === port && line.master && line.slots > 0),
        );
        return promoted && (await everyNodeOk(total));
      },
      { timeoutMs, intervalMs: 50, message: `node ${port} to be promoted and the cluster to report ok` },
    );
  return {
    nodes,
    allNodes: servers.map((server) => ({ host: HOST, port: server.port })),
    url: `redis://${HOST}:${nodes[0]?.port}?cluster=true&nodes=${seeds}`,
    external: false,
    stop,
    masterOf: async (key) => {
      const port = someLive();
      const slot = Number(
        await withOneShotClient(port, HOST, async (client) => client.call("CLUSTER", "KEYSLOT", key)),
      );
      const ranges = (await withOneShotClient(port, HOST, async (client) =>
        client.call("CLUSTER", "SLOTS"),
      )) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const range = ranges.find(([first, last]) => slot >= first && slot <= last);
      if (range === undefined) throw new Error(`no master serves slot ${slot}`);
      return { host: HOST, port: Number(range[2][1]) };
    },
    waitReplicasInSync,
    killMaster: async (node) => {
      const replica = await replicaOf(node);
      const server = servers.find((candidate) => candidate.port === node.port);
      if (server === undefined) throw new Error(`node ${node.port} is not one of this cluster's`);
      const started = Date.now();
      await server.kill();
      dead.add(node.port);
      await waitPromoted(replica.port, 60_000);
      return { promoted: { host: HOST, port: replica.port }, tookMs: Date.now() - started };
    },
    restartNode: async (node) => {
      const server = servers.find((candidate) => candidate.port === node.port);
      if (server === undefined) throw new Error(`node ${node.port} is not one of this cluster's`);
      await server.restart();
      dead.delete(node.port);
      await waitFor(() => everyNodeOk(total), {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: `node ${node.port} to rejoin and the cluster to report ok`,
      });
      await waitFor(async () => field(await replication(node.port), "role") === "slave", {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: `node ${node.port} to become a replica`,
      });
      await waitReplicasInSync(60_000);
    },
    stallReplicas: async (ms) => {
      const roles = await Promise.all(
        live().map(async (server) => field(await replication(server.port), "role")),
      );
      const replicaPorts = live()
        .filter((_, i) => roles[i] === "slave")
        .map((server) => server.port);
      const awake = Promise.all(
        replicaPorts.map((port) =>
          withOneShotClient(port, HOST, async (client) => client.call("DEBUG", "SLEEP", String(ms / 1000))),
        ),
      ).then(() => undefined);
      // Asleep once a PING goes unanswered for a while.
      const answers = (port: number): Promise<boolean> =>
        Promise.race([
          pingOnce(port),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100)),
        ]);
      await waitFor(async () => !(await Promise.all(replicaPorts.map(answers))).some(Boolean), {
        timeoutMs: Math.min(ms, 5000),
        intervalMs: 10,
        message: "the replicas to stop answering",
      });
      return { awake };
    },
    cutReplication: async (node) => {
      await withOneShotClient(node.port, HOST, async (client) =>
        client.call("CLIENT", "KILL", "TYPE", "replica"),
      );
    },
    manualFailover: async (node) => {
      const replica = await replicaOf(node);
      await withOneShotClient(replica.port, HOST, async (client) => client.call("CLUSTER", "FAILOVER"));
      await waitPromoted(replica.port, 30_000);
      return { promoted: { host: HOST, port: replica.port } };
    },
  };
}

/** REDIS_CLUSTER_NODES: a running cluster this helper can neither stop nor fail over. */
function externalCluster(fromEnv: string): RedisClusterServer {
  const nodes = fromEnv.split(",").map((entry) => {
    const [host = HOST, port = "6379"] = entry.trim().split(":");
    return { host, port: Number(port) };
  });
  const seeds = nodes.map((node) => `${node.host}:${node.port}`).join(",");
  const refuse = async (): Promise<never> => {
    throw new Error("REDIS_CLUSTER_NODES names an external cluster: this test needs one it can fail over");
  };
  return {
    nodes,
    allNodes: nodes,
    url: `redis://${seeds.split(",")[0]}?cluster=true&nodes=${seeds}`,
    external: true,
    stop: async () => undefined,
    masterOf: refuse,
    waitReplicasInSync: async () => undefined,
    killMaster: refuse,
    restartNode: refuse,
    stallReplicas: refuse,
    cutReplication: refuse,
    manualFailover: refuse,
  };
}
