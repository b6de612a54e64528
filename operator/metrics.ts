// The operator's Prometheus metrics, in one registry created by the composition root.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { WorkflowDeployment, WorkflowDeploymentStatus } from "./api/workflow-deployment.ts";
import type { ReconcilerMetrics } from "./controller/reconciler.ts";

export class OperatorMetrics implements ReconcilerMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<"outcome">;
  readonly reconcileDuration: Histogram;
  readonly pollErrors: Counter<"namespace" | "name">;
  readonly backlog: Gauge<"namespace" | "name" | "workflow" | "state">;
  readonly desiredReplicas: Gauge<"namespace" | "name" | "workflow">;
  readonly currentReplicas: Gauge<"namespace" | "name" | "workflow">;
  readonly leader: Gauge;
  readonly informerRestarts: Counter<"informer" | "reason">;
  readonly queueDepth: Gauge;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = new Registry());
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: registry, prefix: "floxide_operator_" });
    const wfd = ["namespace", "name", "workflow"] as const;
    this.reconciles = new Counter({
      name: "floxide_operator_reconciles_total",
      help: "Reconciles by outcome (success, error).",
      labelNames: ["outcome"],
      registers: [registry],
    });
    this.reconcileDuration = new Histogram({
      name: "floxide_operator_reconcile_duration_seconds",
      help: "Duration of one reconcile.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.pollErrors = new Counter({
      name: "floxide_operator_backlog_poll_errors_total",
      help: "Backlog reads from Redis that failed, per WorkflowDeployment.",
      labelNames: ["namespace", "name"],
      registers: [registry],
    });
    this.backlog = new Gauge({
      name: "floxide_operator_backlog_items",
      help: "Items of the workflow's queue at the last poll, by state (ready, in_flight, delayed, dead).",
      labelNames: [...wfd, "state"],
      registers: [registry],
    });
    this.desiredReplicas = new Gauge({
      name: "floxide_operator_desired_replicas",
      help: "Worker pods the scaler wants.",
      labelNames: wfd,
      registers: [registry],
    });
    this.currentReplicas = new Gauge({
      name: "floxide_operator_current_replicas",
      help: "Worker pods that exist.",
      labelNames: wfd,
      registers: [registry],
    });
    this.leader = new Gauge({
      name: "floxide_operator_leader",
      help: "1 while this process holds the leader Lease.",
      registers: [registry],
    });
    this.informerRestarts = new Counter({
      name: "floxide_operator_informer_restarts_total",
      help: "Informer restarts by reason (error, silent, relist).",
      labelNames: ["informer", "reason"],
      registers: [registry],
    });
    this.queueDepth = new Gauge({
      name: "floxide_operator_work_queue_depth",
      help: "Keys waiting in the reconcile queue.",
      registers: [registry],
    });
  }

  observe(wfd: WorkflowDeployment, status: WorkflowDeploymentStatus): void {
    const labels = {
      namespace: wfd.metadata.namespace,
      name: wfd.metadata.name,
      workflow: wfd.spec.workflow,
    };
    this.desiredReplicas.set(labels, status.desiredReplicas ?? 0);
    this.currentReplicas.set(labels, status.replicas ?? 0);
    if (status.backlog) {
      this.backlog.set({ ...labels, state: "ready" }, status.backlog.ready);
      this.backlog.set({ ...labels, state: "in_flight" }, status.backlog.inFlight);
      this.backlog.set({ ...labels, state: "delayed" }, status.backlog.delayed);
      this.backlog.set({ ...labels, state: "dead" }, status.backlog.dead);
    }
  }

  forget(namespace: string, name: string): void {
    for (const gauge of [this.desiredReplicas, this.currentReplicas, this.backlog]) {
      (gauge as Gauge<string>).remove({ namespace, name });
    }
    this.pollErrors.remove({ namespace, name });
  }
}
