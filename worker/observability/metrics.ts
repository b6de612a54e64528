import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { StepReport } from "../engine/index.ts";
import type { QueueDepth } from "../store/index.ts";

export type StepOutcomeLabel =
  | "completed"
  | "held"
  | "retried"
  | "fallback"
  | "dead_lettered"
  | "aborted"
  | "cancelled"
  | "lease_lost"
  | "released";

/** What happened to a step, as the `outcome` label. */
export function outcomeLabel(report: StepReport): StepOutcomeLabel {
  if (report.commit === null) return report.outcome.kind === "success" ? "lease_lost" : "released";
  if (report.commit.status === "lease-lost") return "lease_lost";
  if (report.commit.status === "run-finished") return "cancelled";
  switch (report.outcome.kind) {
    case "success":
      return report.outcome.hold === null ? "completed" : "held";
    case "retry":
      return "retried";
    case "fallback":
      return "fallback";
    case "fail":
      return report.outcome.deadLetter ? "dead_lettered" : "aborted";
  }
}

export interface WorkerMetricsSources {
  readonly workflow: string;
  readonly inFlight: () => number;
  readonly draining: () => boolean;
  readonly depth: () => Promise<QueueDepth>;
  /** The store answers but a key it needs is corrupt (the worker's /readyz says which). */
  readonly storeUnusable?: () => boolean;
}

/** The worker's Prometheus series, on a registry owned by the process's composition root. */
export class WorkerMetrics {
  readonly registry: Registry;
  private readonly steps: Counter<"workflow" | "node" | "outcome">;
  private readonly duration: Histogram<"workflow" | "node">;
  private readonly retries: Counter<"workflow" | "node">;
  private readonly deadLettered: Counter<"workflow" | "node">;
  private readonly reclaims: Counter<"workflow">;
  private readonly workflow: string;

  constructor(sources: WorkerMetricsSources, registry = new Registry()) {
    this.registry = registry;
    this.workflow = sources.workflow;
    const registers = [registry];
    this.steps = new Counter({
      name: "floxide_steps_total",
      help: "Steps processed by this worker, by node and outcome.",
      labelNames: ["workflow", "node", "outcome"],
      registers,
    });
    this.duration = new Histogram({
      name: "floxide_step_duration_seconds",
      help: "Time spent in a node per attempt.",
      labelNames: ["workflow", "node"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.retries = new Counter({
      name: "floxide_retries_total",
      help: "Failed attempts scheduled for a retry.",
      labelNames: ["workflow", "node"],
      registers,
    });
    this.deadLettered = new Counter({
      name: "floxide_dead_lettered_total",
      help: "Items moved to the dead-letter list by this worker.",
      labelNames: ["workflow", "node"],
      registers,
    });
    this.reclaims = new Counter({
      name: "floxide_lease_reclaims_total",
      help: "Expired leases this worker re-delivered or dead-lettered.",
      labelNames: ["workflow"],
      registers,
    });
    new Gauge({
      name: "floxide_steps_in_flight",
      help: "Steps running in this worker now.",
      labelNames: ["workflow"],
      registers,
      collect() {
        this.set({ workflow: sources.workflow }, sources.inFlight());
      },
    });
    new Gauge({
      name: "floxide_worker_draining",
      help: "1 while this worker drains after SIGTERM.",
      labelNames: ["workflow"],
      registers,
      collect() {
        this.set({ workflow: sources.workflow }, sources.draining() ? 1 : 0);
      },
    });
    new Gauge({
      name: "floxide_store_unusable",
      help: "1 while the store answers but refuses this worker's calls for a corrupt key (see /readyz).",
      labelNames: ["workflow"],
      registers,
      collect() {
        this.set({ workflow: sources.workflow }, sources.storeUnusable?.() === true ? 1 : 0);
      },
    });
    new Gauge({
      name: "floxide_queue_depth",
      help: "Items of the workflow's queue by state (ready, in_flight, delayed, dead).",
      labelNames: ["workflow", "state"],
      registers,
      async collect() {
        // A failed read leaves the last values; /readyz reports the store's health.
        const depth = await sources.depth().catch(() => null);
        if (depth === null) return;
        this.set({ workflow: sources.workflow, state: "ready" }, depth.ready);
        this.set({ workflow: sources.workflow, state: "in_flight" }, depth.inFlight);
        this.set({ workflow: sources.workflow, state: "delayed" }, depth.delayed);
        this.set({ workflow: sources.workflow, state: "dead" }, depth.dead);
      },
    });
  }

  recordStep(report: StepReport): void {
    const node = report.claim.item.node;
    const outcome = outcomeLabel(report);
    this.steps.inc({ workflow: this.workflow, node, outcome });
    this.duration.observe({ workflow: this.workflow, node }, report.outcome.durationMs / 1000);
    if (outcome === "retried") this.retries.inc({ workflow: this.workflow, node });
    if (outcome === "dead_lettered") this.deadLettered.inc({ workflow: this.workflow, node });
  }

  recordReclaim(result: { requeued: number; deadLettered: number }): void {
    this.reclaims.inc({ workflow: this.workflow }, result.requeued + result.deadLettered);
  }
}
