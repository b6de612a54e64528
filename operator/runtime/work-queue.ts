// A keyed work queue in the manner of client-go's: a key is processed by one worker at a time;
// adding a key that is already waiting coalesces; adding a key that is being processed marks it
// dirty so it runs once more afterwards; a failure requeues the key with per-key exponential
// backoff (reset on success); `requeueAfter` schedules the next level-triggered pass.
import { backoffDelayMs } from "../../common/backoff.ts";

export interface ReconcileResult {
  /** Run the key again after this many milliseconds (polling what cannot be watched). */
  readonly requeueAfterMs?: number;
}

export type KeyHandler = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueOptions {
  readonly concurrency?: number;
  /** First retry delay after a failure (default 100 ms); doubles per consecutive failure. */
  readonly baseDelayMs?: number;
  /** Cap of the retry delay (default 5 min). */
  readonly maxDelayMs?: number;
  /** Called with each failure (the key will be retried). */
  readonly onError?: (key: string, error: unknown, retryInMs: number) => void;
  /** Called after each processed key with its duration and outcome. */
  readonly onDone?: (key: string, seconds: number, ok: boolean) => void;
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private running = 0;
  private stopped = true;
  private handler: KeyHandler | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  private readonly options: WorkQueueOptions;

  constructor(options: WorkQueueOptions = {}) {
    this.options = options;
    this.concurrency = options.concurrency ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
  }

  /** Starts processing with `handler`; keys added before start wait. */
  start(handler: KeyHandler): void {
    this.handler = handler;
    this.stopped = false;
    this.pump();
  }

  /** Stops taking keys and waits for the running handlers; pending timers are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  add(key: string): void {
    const pending = this.timers.get(key);
    if (pending) {
      clearTimeout(pending.timer);
      this.timers.delete(key);
    }
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** Adds the key after `delayMs`, unless an earlier add for it is already scheduled. */
  addAfter(key: string, delayMs: number): void {
    if (delayMs <= 0) return this.add(key);
    if (this.stopped && this.handler) return;
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Forgets a key's failure count and timers (e.g. the object was deleted). */
  forget(key: string): void {
    this.failures.delete(key);
    const pending = this.timers.get(key);
    if (pending) clearTimeout(pending.timer);
    this.timers.delete(key);
  }

  get length(): number {
    return this.ready.length;
  }

  private pump(): void {
    while (!this.stopped && this.handler && this.running < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key, this.handler);
    }
  }

  private async process(key: string, handler: KeyHandler): Promise<void> {
    const started = performance.now();
    let requeueAfterMs: number | undefined;
    let ok = true;
    try {
      const result = await handler(key);
      this.failures.delete(key);
      requeueAfterMs = result?.requeueAfterMs;
    } catch (error) {
      ok = false;
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      requeueAfterMs = backoffDelayMs(
        { growth: "exponential", initialMs: this.baseDelayMs, maxMs: this.maxDelayMs },
        failures,
      );
      this.options.onError?.(key, error, requeueAfterMs);
    } finally {
      this.options.onDone?.(key, (performance.now() - started) / 1000, ok);
      this.active.delete(key);
      this.running--;
    }
    if (!this.stopped) {
      if (this.dirty.delete(key)) this.add(key);
      else if (requeueAfterMs !== undefined) this.addAfter(key, requeueAfterMs);
    }
    if (this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.pump();
  }
}
