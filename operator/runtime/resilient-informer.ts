// An informer that does not stay dead. client-node 1.x's informer re-lists by itself only on
// 410 Gone; any other watch error stops it for good, and a half-open TCP connection can leave
// it silent forever. This wrapper restarts it with jittered exponential backoff on error,
// re-lists periodically, and re-lists when nothing was heard for `silenceLimitMs` (watchdog).
// A restart builds a fresh informer and swaps it in once its list has completed, so readers
// never see an empty cache.
import type { KubernetesObject } from "@kubernetes/client-node";
import { backoffDelayMs } from "../../common/backoff.ts";

/** The part of client-node's `Informer & ObjectCache` this wrapper uses. */
export interface InformerLike<T extends KubernetesObject> {
  on(verb: "add" | "update" | "delete", cb: (obj: T) => void): void;
  on(verb: "error" | "connect", cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
}

export type InformerEvent = "add" | "update" | "delete";

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "workflowdeployments/shop". */
  readonly name: string;
  readonly create: () => InformerLike<T>;
  readonly onEvent: (event: InformerEvent, object: T) => void;
  readonly onRestart?: (reason: string, error?: unknown) => void;
  /** Re-list this often even when all is well (default 10 min). */
  readonly relistIntervalMs?: number;
  /** Re-list when no event arrived for this long (default 5 min). */
  readonly silenceLimitMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  private current: InformerLike<T> | undefined;
  private generation = 0;
  private failures = 0;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly watchdog: NodeJS.Timeout;
  private lastListAt = 0;
  /** Time of the last event, connect or successful list (ms). */
  lastSeenAt = 0;
  /** True once a list has completed. */
  synced = false;
  restarts = 0;
  private readonly syncWaiters: (() => void)[] = [];

  private readonly options: ResilientInformerOptions<T>;

  constructor(options: ResilientInformerOptions<T>) {
    this.options = options;
    const silence = options.silenceLimitMs ?? 300_000;
    const relist = options.relistIntervalMs ?? 600_000;
    this.watchdog = setInterval(
      () => {
        if (this.stopped || !this.current) return;
        const now = Date.now();
        if (now - this.lastSeenAt >= silence) this.restart("silent");
        else if (now - this.lastListAt >= relist) this.restart("relist");
      },
      Math.max(10, Math.min(silence, relist) / 4),
    );
    this.watchdog.unref();
  }

  /** Starts; resolves once the first list has completed (retrying with backoff until then). */
  async start(): Promise<void> {
    this.stopped = false;
    void this.launch("start");
    if (!this.synced) await new Promise<void>((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const current = this.current;
    this.current = undefined;
    this.generation++;
    await current?.stop().catch(() => undefined);
  }

  list(namespace?: string): T[] {
    return this.current?.list(namespace) ?? [];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.current?.get(name, namespace);
  }

  private restart(reason: string, error?: unknown): void {
    if (this.stopped || this.restartTimer) return;
    this.options.onRestart?.(reason, error);
    const failed = error !== undefined;
    if (failed) this.failures++;
    const initial = this.options.initialBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const delay = failed
      ? backoffDelayMs({ growth: "exponential", initialMs: initial, maxMs: max, jitter: 0.2 }, this.failures)
      : 0;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.launch(reason);
    }, delay);
  }

  private async launch(reason: string): Promise<void> {
    if (this.stopped) return;
    this.restarts += reason === "start" ? 0 : 1;
    const generation = ++this.generation;
    const informer = this.options.create();
    const live = () => generation === this.generation && !this.stopped;
    const forward = (event: InformerEvent) => (object: T) => {
      if (!live()) return;
      this.lastSeenAt = Date.now();
      this.options.onEvent(event, object);
    };
    informer.on("add", forward("add"));
    informer.on("update", forward("update"));
    informer.on("delete", forward("delete"));
    informer.on("connect", () => {
      if (live()) this.lastSeenAt = Date.now();
    });
    let failed = false;
    informer.on("error", (error) => {
      failed = true;
      if (!live()) return;
      void informer.stop().catch(() => undefined);
      this.restart("error", error ?? new Error("watch failed"));
    });
    try {
      await informer.start();
    } catch (error) {
      if (live()) this.restart("error", error);
      return;
    }
    // client-node reports a failed list through "error" and still resolves start().
    if (!live() || failed) {
      await informer.stop().catch(() => undefined);
      return;
    }
    const previous = this.current;
    this.current = informer;
    this.failures = 0;
    this.lastListAt = this.lastSeenAt = Date.now();
    this.synced = true;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
    await previous?.stop().catch(() => undefined);
  }
}
