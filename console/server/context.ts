/** What the console's plugins share: built once by main.ts (or a test), passed to each plugin. */
import type { ContextSpec, graphOf } from "../../worker/sdk/index.ts";
import type { RedisClient, StoreBackend } from "../../worker/store/index.ts";
import type { WorkflowDeploymentSource } from "./kube/workflow-deployments.ts";

export type WorkflowGraph = ReturnType<typeof graphOf>;

export interface ConsoleContext {
  readonly redis: RedisClient;
  /** For actions: they go through the store's functions, never raw writes. */
  readonly backend: StoreBackend;
  readonly prefix: string;
  /** The workflows' partition count (--partitions; default 1): the readers merge the partitions. */
  readonly partitions?: number;
  /** The workflows shown; null: every workflow found in the Redis. */
  readonly workflows: readonly string[] | null;
  /** Graphs of the workflows given as modules, by name. */
  readonly graphs: ReadonlyMap<string, WorkflowGraph>;
  /** Context reducers of the workflows given as modules: the page shows the state at any event. */
  readonly contexts: ReadonlyMap<string, ContextSpec<unknown, unknown>>;
  readonly readOnly: boolean;
  readonly authToken: string | undefined;
  /** How often a live view is read for an open page (ms; at least 1000 outside tests). */
  readonly liveIntervalMs: number;
  /** The WorkflowDeployments' replicas (`--kube`), or null without Kubernetes access. */
  readonly kube: WorkflowDeploymentSource | null;
}
