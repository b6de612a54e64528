import { pino } from "pino";
import { FloxideError } from "../worker/sdk/index.ts";
import { redactRedisUrl, type StoreBackend } from "../worker/store/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";
import { UsageError } from "./usage.ts";

/** The CLI's Redis connection: flags win over the same FLOXIDE_* variables the worker reads. */
export async function openCliBackend(
  url: string | undefined,
  keyPrefix: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<StoreBackend> {
  const redisUrl = url ?? env.FLOXIDE_REDIS_URL;
  if (redisUrl === undefined || redisUrl === "")
    throw new UsageError("--redis <url> (or FLOXIDE_REDIS_URL) is required");
  const backend = await openRedisBackend(
    {
      redisUrl,
      redisUsername: env.FLOXIDE_REDIS_USERNAME,
      redisPassword: env.FLOXIDE_REDIS_PASSWORD,
      redisTlsCaFile: env.FLOXIDE_REDIS_TLS_CA_FILE,
      redisMode: env.FLOXIDE_REDIS_MODE ?? "standalone",
      redisSentinelName: env.FLOXIDE_REDIS_SENTINEL_NAME,
      keyPrefix: keyPrefix ?? env.FLOXIDE_KEY_PREFIX ?? "floxide",
      retentionSeconds: 7 * 86400,
    },
    pino({ level: "silent" }),
  );
  // Fail fast with a clear message instead of letting the first command retry for seconds.
  try {
    await (backend as StoreBackend & { ping(timeoutMs?: number): Promise<void> }).ping(3000);
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw new FloxideError(
      "StoreUnavailable",
      `cannot reach Redis at ${redactRedisUrl(redisUrl)}: ${(error as Error).message}`,
    );
  }
  return backend;
}
