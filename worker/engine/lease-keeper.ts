import type { Logger } from "../sdk/index.ts";
import type { Claim, WorkflowStore } from "../store/index.ts";
import { StepAbort } from "./step.ts";
import type { StoreHealth } from "./store-health.ts";
import { StepStop } from "./step-stop.ts";

interface Held {
  claim: Claim;
  stop: StepStop;
}

export interface LeaseKeeperOptions {
  readonly leaseMs: number;
  /** How often leases are renewed; at most a third of the lease so two renewals can fail. */
  readonly heartbeatMs: number;
  /** How often this process re-delivers other workers' expired leases. */
  readonly reclaimEveryMs: number;
}

/**
 * Renews the leases of every step in flight in one store call per heartbeat, aborts the steps
 * whose lease was lost or whose run finished, and periodically reclaims expired leases.
 */
export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private readonly store: WorkflowStore;
  private readonly options: LeaseKeeperOptions;
  private readonly log: Logger;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private renewing = false;
  /** Set by abortAll: a claim held afterwards (a loop's last claim) is stopped at once. */
  private abortedWith: StepAbort | undefined;
  onReclaim: (result: { requeued: number; deadLettered: number }) => void = () => undefined;
  /** Called after each renewal attempt, so long steps count as progress for /healthz. */
  onRenew: () => void = () => undefined;
  /** Called when the first claim is held after none was (the process turns busy). */
  onBusy: () => void = () => undefined;
  /** Told of each renewal's and sweep's store outcome. */
  health: StoreHealth | undefined;

  constructor(store: WorkflowStore, options: LeaseKeeperOptions, log: Logger) {
    if (options.heartbeatMs * 3 > options.leaseMs) {
      throw new RangeError(
        `heartbeatMs (${options.heartbeatMs}) must be at most a third of leaseMs (${options.leaseMs})`,
      );
    }
    this.store = store;
    this.options = options;
    this.log = log;
  }

  start(): void {
    this.heartbeatTimer ??= setInterval(() => void this.renew(), this.options.heartbeatMs);
    this.reclaimTimer ??= setInterval(() => void this.reclaim(), this.options.reclaimEveryMs);
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.reclaimTimer);
    this.heartbeatTimer = undefined;
    this.reclaimTimer = undefined;
  }

  /** Tracks a claim; the returned stop fires when the lease is lost or the run finishes. */
  hold(claim: Claim): StepStop {
    const stop = new StepStop();
    if (this.abortedWith !== undefined) stop.abort(this.abortedWith);
    const wasIdle = this.held.size === 0;
    this.held.set(claim.token, { claim, stop });
    if (wasIdle) this.onBusy();
    return stop;
  }

  drop(claim: Claim): void {
    this.held.delete(claim.token);
  }

  get size(): number {
    return this.held.size;
  }

  claims(): Claim[] {
    return [...this.held.values()].map((entry) => entry.claim);
  }

  /** Aborts every step in flight (drain deadline passed). */
  abortAll(reason: StepAbort): void {
    this.abortedWith = reason;
    for (const entry of this.held.values()) entry.stop.abort(reason);
  }

  async renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    const entries = [...this.held.values()];
    try {
      const checks = await this.store.extendLeases(
        entries.map((entry) => entry.claim),
        this.options.leaseMs,
      );
      checks.forEach((check, index) => {
        const entry = entries[index];
        if (entry === undefined || check === "ok") return;
        const reason =
          check === "lost"
            ? new StepAbort("lease-lost", "the lease was reclaimed by another worker")
            : new StepAbort("run-finished", "the run was cancelled or finished");
        entry.stop.abort(reason);
      });
      this.health?.succeeded("lease renewal");
    } catch (error) {
      // Leases survive one missed renewal by design (heartbeat <= lease / 3): log and try again.
      if (this.health?.failed("lease renewal", error) !== true)
        this.log.warn({ err: error }, "lease renewal failed");
    } finally {
      this.renewing = false;
      this.onRenew();
    }
  }

  async reclaim(): Promise<void> {
    try {
      const result = await this.store.reclaimExpired();
      this.health?.succeeded("lease sweep");
      if (result.requeued + result.deadLettered > 0) {
        this.log.info(result, "reclaimed expired leases");
        this.onReclaim(result);
      }
    } catch (error) {
      if (this.health?.failed("lease sweep", error) !== true)
        this.log.warn({ err: error }, "reclaiming expired leases failed");
    }
  }
}
