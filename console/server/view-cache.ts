/**
 * At most one store read per second per view: every open page polling the same view (same
 * parameters) within `ttlMs` shares one read, in flight or done.
 */
export class ViewCache {
  private readonly entries = new Map<string, { at: number; value: Promise<unknown> }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(ttlMs = 1000, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  get<T>(key: string, read: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && now - hit.at < this.ttlMs) return hit.value as Promise<T>;
    const value = read();
    this.entries.set(key, { at: now, value });
    // A failed read is not kept: the next caller tries again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    for (const [old, entry] of this.entries) if (now - entry.at >= this.ttlMs) this.entries.delete(old);
    return value;
  }
}
