/**
 * Opens the Redis backend from the FLOXIDE_* settings shared by the worker, the CLI and the
 * demo: maps them onto the Redis connection options, which validate them.
 */
import type { Logger } from "../sdk/index.ts";
import type { StoreBackend } from "./contract.ts";
import {
  createRedisBackend,
  describeRedisConnection,
  parseRedisUrl,
  type RedisConnectionOptions,
} from "./redis/index.ts";

export interface RedisSettings {
  readonly redisUrl: string;
  readonly redisUsername?: string | undefined;
  readonly redisPassword?: string | undefined;
  readonly redisTlsCaFile?: string | undefined;
  readonly redisMode: string;
  readonly redisSentinelName?: string | undefined;
  readonly keyPrefix: string;
  readonly retentionSeconds: number;
  readonly workerId?: string | undefined;
}

/** In sentinel mode the URL names a Sentinel (more can follow in `?sentinels=h:p,...`). */
function sentinelsFrom(url: string): RedisConnectionOptions["sentinels"] {
  const parsed = parseRedisUrl(url);
  if (parsed.sentinels !== undefined) return parsed.sentinels;
  return [{ host: parsed.host ?? "127.0.0.1", port: parsed.port ?? 26379 }];
}

export function redisConnectionFrom(settings: RedisSettings): RedisConnectionOptions {
  return {
    url: settings.redisUrl,
    ...(settings.redisUsername === undefined ? {} : { username: settings.redisUsername }),
    ...(settings.redisPassword === undefined ? {} : { password: settings.redisPassword }),
    ...(settings.redisTlsCaFile === undefined ? {} : { tls: { ca: settings.redisTlsCaFile } }),
    ...(settings.redisMode === "cluster" ? { cluster: true } : {}),
    ...(settings.redisMode === "sentinel"
      ? {
          sentinels: sentinelsFrom(settings.redisUrl),
          ...(settings.redisSentinelName === undefined ? {} : { name: settings.redisSentinelName }),
        }
      : {}),
    ...(settings.workerId === undefined ? {} : { connectionName: settings.workerId }),
  };
}

export async function openRedisBackend(settings: RedisSettings, log: Logger): Promise<StoreBackend> {
  const connection = redisConnectionFrom(settings);
  log.info(
    { redis: describeRedisConnection(connection), keyPrefix: settings.keyPrefix },
    "connecting to Redis",
  );
  return createRedisBackend({
    connection,
    keyPrefix: settings.keyPrefix,
    retentionMs: settings.retentionSeconds * 1000,
  });
}
