/**
 * From Redis settings (the worker's options, or a WorkflowDeployment's `spec.redis`) to the
 * connection the store opens: standalone, Sentinel (the URL names one Sentinel, `?sentinels=`
 * lists more), Cluster (the URL is a seed node), TLS, auth. The worker, the CLI, the demo and
 * the operator's backlog reader all map through here. The result is the store's
 * `RedisConnectionOptions` shape (worker/store/redis/connection.ts validates it).
 */
import type { RedisConfig } from "./worker-options.ts";

export const SENTINEL_DEFAULT_PORT = 26379;

export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisSettings {
  readonly redisUrl: string;
  readonly redisUsername?: string | undefined;
  readonly redisPassword?: string | undefined;
  /** The CA: a PEM file path (worker) or PEM text (operator, read from a Secret). */
  readonly redisTlsCaFile?: string | undefined;
  readonly redisMode: RedisConfig["redisMode"];
  readonly redisSentinelName?: string | undefined;
  /** Shown by CLIENT LIST (the pod name). */
  readonly connectionName?: string | undefined;
}

/** The connection fields this mapping sets (a subset of the store's RedisConnectionOptions). */
export interface RedisConnectionFields {
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: { readonly ca: string };
  readonly cluster?: true;
  readonly sentinels?: readonly RedisNodeAddress[];
  readonly name?: string;
  readonly connectionName?: string;
}

/**
 * In sentinel mode the URL's host is a Sentinel unless the URL lists them (`?sentinels=h:p,...`),
 * in which case the store's URL parser takes that list.
 */
function sentinelsOf(url: string): readonly RedisNodeAddress[] | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // the store's parser reports the bad URL, redacted
  }
  if (parsed.searchParams.has("sentinels")) return undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  return [{ host, port: parsed.port === "" ? SENTINEL_DEFAULT_PORT : Number(parsed.port) }];
}

export function redisConnectionFrom(settings: RedisSettings): RedisConnectionFields {
  const sentinels = settings.redisMode === "sentinel" ? sentinelsOf(settings.redisUrl) : undefined;
  return {
    url: settings.redisUrl,
    ...(settings.redisUsername === undefined ? {} : { username: settings.redisUsername }),
    ...(settings.redisPassword === undefined ? {} : { password: settings.redisPassword }),
    ...(settings.redisTlsCaFile === undefined ? {} : { tls: { ca: settings.redisTlsCaFile } }),
    ...(settings.redisMode === "cluster" ? { cluster: true } : {}),
    ...(sentinels === undefined ? {} : { sentinels }),
    ...(settings.redisMode === "sentinel" && settings.redisSentinelName !== undefined
      ? { name: settings.redisSentinelName }
      : {}),
    ...(settings.connectionName === undefined ? {} : { connectionName: settings.connectionName }),
  };
}
