import { pino } from "pino";
import { REDIS_OPTIONS, resolveOptions, type RawOptions } from "../contract/index.ts";
import { FloxideError } from "../worker/sdk/index.ts";
import { redactRedisUrl, type StoreBackend } from "../worker/store/index.ts";
import { openRedisBackend } from "../worker/store/open-redis.ts";

/** Seconds the CLI keeps what it writes (only `run start` writes); the worker's default. */
const CLI_RETENTION_SECONDS = 7 * 86400;

/**
 * The CLI's Redis connection: the worker's own Redis options (flags win over the same FLOXIDE_*
 * variables), validated by the same table: an unknown FLOXIDE_REDIS_MODE is a usage error.
 */
export async function openCliBackend(flags: RawOptions, env: NodeJS.ProcessEnv): Promise<StoreBackend> {
  const settings = resolveOptions(REDIS_OPTIONS, flags, env);
  const backend = await openRedisBackend(
    { ...settings, retentionSeconds: CLI_RETENTION_SECONDS },
    pino({ level: "silent" }),
  );
  // Fail fast with a clear message instead of letting the first command retry for seconds.
  try {
    await (backend as StoreBackend & { ping(timeoutMs?: number): Promise<void> }).ping(3000);
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw new FloxideError(
      "StoreUnavailable",
      `cannot reach Redis at ${redactRedisUrl(settings.redisUrl)}: ${(error as Error).message}`,
    );
  }
  return backend;
}
