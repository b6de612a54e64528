// Polling with a deadline: the only way tests wait for something to become true.
// A fixed sleep is either too short on a slow machine or wasted time on a fast one.
import { setTimeout as delay } from "node:timers/promises";

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 100 ms). */
  intervalMs?: number;
  /** Says what was awaited, in the error thrown on timeout. */
  message?: string;
  /** Stops waiting at once, rejecting with the signal's reason (e.g. the awaited process died). */
  signal?: AbortSignal;
}

/**
 * Calls `condition` until it returns a value other than `undefined`, `null` or `false`, and
 * returns that value. An exception thrown by `condition` counts as "not yet"; the last one is
 * reported if the deadline passes.
 */
export async function waitFor<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 100, message = "condition", signal } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    signal?.throwIfAborted();
    try {
      const value = await condition();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${cause}`, { cause: lastError });
    }
    // An abort cuts the pause short; the check at the top of the loop then throws its reason.
    await delay(intervalMs, undefined, { signal }).catch(() => undefined);
  }
}
