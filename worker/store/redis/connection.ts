/**
 * How to reach Redis: one typed options object (a URL, explicit fields, or both), validated once,
 * turned into an ioredis `Redis` (standalone or Sentinel) or `Cluster` client. Every error is an
 * `InvalidConfig` FloxideError naming the offending field; no description ever shows a password.
 */
import { readFileSync } from "node:fs";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { FloxideError } from "../../sdk/index.ts";

export type RedisClient = Redis | Cluster;

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisTlsOptions {
  /** CA certificate(s) to trust: PEM text, or the path of a PEM file. Default: the system CAs. */
  readonly ca?: string;
  /** Host name expected in the server certificate (SNI); default: the host connected to. */
  readonly servername?: string;
  /** Refuse certificates that do not verify (default true; false only for local testing). */
  readonly rejectUnauthorized?: boolean;
}

export interface RedisConnectionOptions {
  /**
   * `redis://[user[:password]@]host[:port][/db]` or `rediss://` (TLS). Query parameters:
   * `cluster=true`, `nodes=h:p,h:p` (more cluster seeds), `sentinels=h:p,h:p` + `name=<master>`,
   * `ca=<PEM file path>`, `servername=<name>`. Explicit fields below override the URL.
   */
  readonly url?: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 6379. */
  readonly port?: number;
  /** Database index (standalone and Sentinel only), default 0. */
  readonly db?: number;
  readonly username?: string;
  readonly password?: string;
  /** `true` or TLS details to connect with TLS (implied by `rediss://`). */
  readonly tls?: boolean | RedisTlsOptions;
  /** Sentinel addresses; `name` is then the master group name. */
  readonly sentinels?: readonly RedisNode[];
  readonly name?: string;
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  /** Redis Cluster: the host/port (or `nodes`) are seed nodes. */
  readonly cluster?: boolean;
  readonly nodes?: readonly RedisNode[];
  /** Shown by CLIENT LIST, e.g. the pod name. */
  readonly connectionName?: string;
  /** Default 10 s. */
  readonly connectTimeoutMs?: number;
}

/** The validated form: exactly one topology, TLS material loaded. */
export type ResolvedRedisConnection = {
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly tls: TlsConnectionOptions | undefined;
  readonly connectionName: string | undefined;
  readonly connectTimeoutMs: number;
} & (
  | { readonly mode: "standalone"; readonly node: RedisNode; readonly db: number }
  | {
      readonly mode: "sentinel";
      readonly sentinels: readonly RedisNode[];
      readonly name: string;
      readonly db: number;
      readonly sentinelUsername: string | undefined;
      readonly sentinelPassword: string | undefined;
    }
  | { readonly mode: "cluster"; readonly nodes: readonly RedisNode[] }
);

const invalid = (message: string, details: Record<string, unknown> = {}): FloxideError =>
  new FloxideError("InvalidConfig", `redis connection: ${message}`, details);

const QUERY_KEYS = new Set(["cluster", "nodes", "sentinels", "name", "ca", "servername"]);

/** Parses a `redis://` / `rediss://` URL into connection options (see RedisConnectionOptions.url). */
export function parseRedisUrl(url: string): RedisConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`'${redactRedisUrl(url)}' is not a URL (expected redis://host:port or rediss://...)`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw invalid(`unsupported scheme '${parsed.protocol}' (expected redis: or rediss:)`);
  }
  if (parsed.hostname === "") throw invalid(`URL '${redactRedisUrl(url)}' has no host`);
  for (const key of parsed.searchParams.keys()) {
    if (!QUERY_KEYS.has(key)) {
      throw invalid(`unknown URL parameter '${key}' (known: ${[...QUERY_KEYS].join(", ")})`);
    }
  }
  const query = parsed.searchParams;
  const path = parsed.pathname.replace(/^\//, "");
  const tlsOptions = {
    ...(query.has("ca") ? { ca: query.get("ca") as string } : {}),
    ...(query.has("servername") ? { servername: query.get("servername") as string } : {}),
  };
  const secure = parsed.protocol === "rediss:";
  if (!secure && Object.keys(tlsOptions).length > 0) {
    throw invalid("'ca' and 'servername' need a rediss:// URL (TLS)");
  }
  const clusterFlag = query.get("cluster");
  if (clusterFlag !== null && clusterFlag !== "true" && clusterFlag !== "false") {
    throw invalid(`cluster=${clusterFlag}: expected true or false`);
  }
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    ...(parsed.port === "" ? {} : { port: parsePort(parsed.port, "URL port") }),
    ...(path === "" ? {} : { db: parseDb(path) }),
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(secure ? { tls: Object.keys(tlsOptions).length > 0 ? tlsOptions : true } : {}),
    ...(clusterFlag === "true" ? { cluster: true } : {}),
    ...(query.has("nodes") ? { nodes: parseNodes(query.get("nodes") as string, "nodes") } : {}),
    ...(query.has("sentinels")
      ? { sentinels: parseNodes(query.get("sentinels") as string, "sentinels") }
      : {}),
    ...(query.has("name") ? { name: query.get("name") as string } : {}),
  };
}

function parsePort(text: string | number, field: string): number {
  const port = typeof text === "number" ? text : Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalid(`${field} '${text}' is not a port (1-65535)`);
  }
  return port;
}

function parseDb(text: string): number {
  const db = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(db)) {
    throw invalid(`database '/${text}' in the URL path is not a non-negative integer`);
  }
  return db;
}

/** `host:port,host:port` (IPv6 hosts in brackets: `[::1]:6379`). */
export function parseNodes(text: string, field: string): RedisNode[] {
  const nodes = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
      if (match === null) throw invalid(`${field}: '${entry}' is not host:port`);
      return {
        host: (match[1] as string).replace(/^\[(.*)\]$/, "$1"),
        port: parsePort(match[2] as string, field),
      };
    });
  if (nodes.length === 0) throw invalid(`${field} is empty`);
  return nodes;
}

function loadCa(ca: string): string {
  if (ca.includes("-----BEGIN")) return ca;
  try {
    const pem = readFileSync(ca, "utf8");
    if (!pem.includes("-----BEGIN")) throw new Error("no PEM block in the file");
    return pem;
  } catch (error) {
    throw invalid(`TLS CA '${ca}' is neither PEM text nor a readable PEM file: ${(error as Error).message}`, {
      ca,
    });
  }
}

function resolveTls(tls: RedisConnectionOptions["tls"]): TlsConnectionOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const { ca, servername, rejectUnauthorized } = tls;
  if (servername !== undefined && servername.trim() === "") throw invalid("TLS servername is empty");
  return {
    ...(ca === undefined ? {} : { ca: loadCa(ca) }),
    ...(servername === undefined ? {} : { servername }),
    ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
  };
}

function checkNodes(nodes: readonly RedisNode[], field: string): readonly RedisNode[] {
  if (nodes.length === 0) throw invalid(`${field} is empty`);
  for (const node of nodes) {
    if (typeof node.host !== "string" || node.host === "") throw invalid(`${field}: a node has no host`);
    parsePort(node.port, `${field} port of ${node.host}`);
  }
  return nodes;
}

/** Merges the URL with explicit fields and validates the result. */
export function resolveRedisConnection(input: RedisConnectionOptions | string): ResolvedRedisConnection {
  const explicit: RedisConnectionOptions = typeof input === "string" ? { url: input } : input;
  const fromUrl = explicit.url === undefined ? {} : parseRedisUrl(explicit.url);
  const options: RedisConnectionOptions = { ...fromUrl, ...dropUndefined(explicit) };
  if (typeof options.tls === "object" && typeof fromUrl.tls === "object") {
    // A CA in the URL and a servername in the options (or vice versa) both apply.
    Object.assign(options, { tls: { ...fromUrl.tls, ...options.tls } });
  }
  const host = options.host ?? "127.0.0.1";
  if (host.trim() === "") throw invalid("host is empty");
  const port = parsePort(options.port ?? 6379, "port");
  const db = options.db ?? 0;
  if (!Number.isSafeInteger(db) || db < 0) throw invalid(`db ${db} is not a non-negative integer`);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!(connectTimeoutMs > 0)) throw invalid(`connectTimeoutMs ${connectTimeoutMs} must be positive`);
  if (options.password !== undefined && options.password === "") throw invalid("password is empty");
  const common = {
    username: options.username,
    password: options.password,
    tls: resolveTls(options.tls),
    connectionName: options.connectionName,
    connectTimeoutMs,
  };
  const sentinel = options.sentinels !== undefined || options.name !== undefined;
  if (options.cluster === true) {
    if (sentinel) throw invalid("cluster and sentinels cannot be combined: pick one topology");
    if (db !== 0) throw invalid(`Redis Cluster has only database 0 (got db ${db})`);
    return { ...common, mode: "cluster", nodes: checkNodes(options.nodes ?? [{ host, port }], "nodes") };
  }
  if (options.nodes !== undefined) throw invalid("nodes (cluster seeds) given without cluster: true");
  if (sentinel) {
    if (options.sentinels === undefined) throw invalid(`name '${options.name}' given without sentinels`);
    if (options.name === undefined || options.name === "") {
      throw invalid("sentinels need the master group name ('name', e.g. mymaster)");
    }
    return {
      ...common,
      mode: "sentinel",
      sentinels: checkNodes(options.sentinels, "sentinels"),
      name: options.name,
      db,
      sentinelUsername: options.sentinelUsername,
      sentinelPassword: options.sentinelPassword,
    };
  }
  return { ...common, mode: "standalone", node: { host, port }, db };
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const resolveInput = (
  input: RedisConnectionOptions | string | ResolvedRedisConnection,
): ResolvedRedisConnection =>
  typeof input !== "string" && "mode" in input ? input : resolveRedisConnection(input);

/**
 * Reconnect delay after the `attempt`-th failure: 50 ms more per attempt up to 2 s (ioredis 5's
 * default; ioredis 6's exponential default waits up to 5.2 s, which would hold a worker off a
 * Redis that is back for seconds; the chaos suite's recovery figures assume this one).
 */
export const reconnectDelayMs = (attempt: number): number => Math.min(attempt * 50, 2_000);

/** ioredis options of a resolved connection; `overrides` tune one client (e.g. a blocking one). */
function redisOptions(resolved: ResolvedRedisConnection, overrides: RedisOptions): RedisOptions {
  return {
    // RESP2: the store's scripts reply in RESP2 shapes (Lua true is 1, not a RESP3 boolean);
    // ioredis 6 would negotiate RESP3 with HELLO 3 by default.
    protocol: 2,
    retryStrategy: reconnectDelayMs,
    ...(resolved.username === undefined ? {} : { username: resolved.username }),
    ...(resolved.password === undefined ? {} : { password: resolved.password }),
    ...(resolved.tls === undefined ? {} : { tls: resolved.tls }),
    ...(resolved.connectionName === undefined ? {} : { connectionName: resolved.connectionName }),
    connectTimeout: resolved.connectTimeoutMs,
    ...overrides,
  };
}

/** Creates the ioredis client of a connection (it connects in the background). */
export function createRedisClient(
  input: RedisConnectionOptions | string | ResolvedRedisConnection,
  overrides: RedisOptions = {},
): RedisClient {
  const resolved = resolveInput(input);
  const base = redisOptions(resolved, overrides);
  switch (resolved.mode) {
    case "standalone":
      return new Redis({ ...base, host: resolved.node.host, port: resolved.node.port, db: resolved.db });
    case "sentinel":
      return new Redis({
        ...base,
        sentinels: resolved.sentinels.map((node) => ({ host: node.host, port: node.port })),
        name: resolved.name,
        db: resolved.db,
        ...(resolved.sentinelUsername === undefined ? {} : { sentinelUsername: resolved.sentinelUsername }),
        ...(resolved.sentinelPassword === undefined ? {} : { sentinelPassword: resolved.sentinelPassword }),
        ...(resolved.tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: resolved.tls }),
      });
    case "cluster": {
      const options: ClusterOptions = { redisOptions: base };
      return new Cluster(
        resolved.nodes.map((node) => ({ host: node.host, port: node.port })),
        options,
      );
    }
  }
}

/** A one-line description for logs: topology, hosts, user, TLS; the password is never shown. */
export function describeRedisConnection(
  input: RedisConnectionOptions | string | ResolvedRedisConnection,
): string {
  const resolved = resolveInput(input);
  const scheme = resolved.tls === undefined ? "redis" : "rediss";
  const auth =
    resolved.username === undefined && resolved.password === undefined
      ? ""
      : `${resolved.username ?? ""}${resolved.password === undefined ? "" : ":***"}@`;
  const list = (nodes: readonly RedisNode[]): string => nodes.map(formatNode).join(",");
  switch (resolved.mode) {
    case "standalone":
      return `${scheme}://${auth}${formatNode(resolved.node)}/${resolved.db}`;
    case "sentinel":
      return `${scheme}://${auth}sentinel(${resolved.name}@${list(resolved.sentinels)})/${resolved.db}`;
    case "cluster":
      return `${scheme}://${auth}cluster(${list(resolved.nodes)})`;
  }
}

const formatNode = (node: RedisNode): string =>
  node.host.includes(":") ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;

/** A URL with its password replaced by `***` (for error messages about unparsable input too). */
export function redactRedisUrl(url: string): string {
  // Over-redacting a malformed URL is fine; leaking a password with an unencoded "/" is not.
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@]*@/i, "$1***@");
}
