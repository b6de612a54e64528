/**
 * The one backoff formula: the delay before attempt `n` (1-based) grows fixed, linearly or
 * exponentially from `initialMs`, is capped at `maxMs`, and may be shortened by a random share of
 * up to `jitter` so that many clients retrying together do not stay in step. Jitter only ever
 * shortens the delay, so `maxMs` is a true upper bound (the node retry policy documents it so).
 */
export interface Backoff {
  readonly growth: "fixed" | "linear" | "exponential";
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0 (default) to 1: the share of the delay drawn at random and subtracted (1 = "full jitter"). */
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
  return jitter === 0 ? capped : capped - capped * jitter * random();
}
