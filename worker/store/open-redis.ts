/**
 * Opens the Redis backend from the FLOXIDE_* settings shared by the worker, the CLI and the
 * demo: the contract maps them onto the Redis connection options, which validate them.
 */
import { redisConnectionFrom, type Durability, type RedisSettings } from "../../contract/index.ts";
import type { Logger } from "../sdk/index.ts";
import type { StoreBackend } from "./contract.ts";
import { createRedisBackend, describeRedisConnection, type RedisConnectionOptions } from "./redis/index.ts";

export interface RedisBackendSettings extends RedisSettings {
  readonly keyPrefix: string;
  /** The workflow's partitions (default 1). */
  readonly partitions?: number;
  readonly retentionSeconds: number;
  readonly workerId?: string | undefined;
  /** The worker's commit durability (the CLI and the demo leave the default). */
  readonly durability?: string | undefined;
}

/** The store's connection options for the settings (the contract's mapping, checked against the store's type). */
export function redisConnectionOptions(settings: RedisBackendSettings): RedisConnectionOptions {
  return redisConnectionFrom({
    ...settings,
    ...(settings.workerId === undefined ? {} : { connectionName: settings.workerId }),
  }) satisfies RedisConnectionOptions;
}

export async function openRedisBackend(settings: RedisBackendSettings, log: Logger): Promise<StoreBackend> {
  const connection = redisConnectionOptions(settings);
  log.info(
    {
      redis: describeRedisConnection(connection),
      keyPrefix: settings.keyPrefix,
      durability: settings.durability,
      partitions: settings.partitions ?? 1,
    },
    "connecting to Redis",
  );
  return createRedisBackend({
    connection,
    keyPrefix: settings.keyPrefix,
    retentionMs: settings.retentionSeconds * 1000,
    // Checked by the backend (the worker's option parser already refused anything else).
    ...(settings.durability === undefined ? {} : { durability: settings.durability as Durability }),
    ...(settings.partitions === undefined ? {} : { partitions: settings.partitions }),
  });
}
