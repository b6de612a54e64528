/**
 * The one backoff formula: the delay before attempt `n` (1-based) grows fixed, linearly or
 * exponentially from `initialMs`, is capped at `maxMs`, and may be spread by ±`jitter` (a share)
 * so that many clients retrying together do not stay in step.
 */
export interface Backoff {
  readonly growth: "fixed" | "linear" | "exponential";
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0 (default) to 1: the delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  readonly jitter?: number;
}

export function backoffDelayMs(policy: Backoff, attempt: number, random: () => number = Math.random): number {
  const n = Math.max(1, attempt);
  const base =
    policy.growth === "fixed"
      ? policy.initialMs
      : policy.growth === "linear"
        ? policy.initialMs * n
        : policy.initialMs * 2 ** Math.min(n - 1, 52);
  const capped = Math.min(policy.maxMs, base);
  const jitter = policy.jitter ?? 0;
  return jitter === 0 ? capped : capped * (1 - jitter + random() * 2 * jitter);
}
