/** Runs workflows on the memory backend with real worker pools, for engine tests. */
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import { MemoryBackend, type WorkflowStore } from "../../worker/store/index.ts";
import { Orchestrator, WorkerPool, type WorkerPoolOptions } from "../../worker/engine/index.ts";

export interface EngineHarness<S, E> {
  store: WorkflowStore;
  orchestrator: Orchestrator<S, E>;
  pools: WorkerPool<S, E>[];
  stop(): Promise<void>;
}

export function startEngine<S, E>(
  def: WorkflowDef<S, E>,
  options: { pools?: number; store?: WorkflowStore } & Partial<
    Omit<WorkerPoolOptions<S, E>, "store" | "workflow">
  > = {},
): EngineHarness<S, E> {
  const store = options.store ?? new MemoryBackend().forWorkflow(def.name, def.version);
  const pools = Array.from(
    { length: options.pools ?? 1 },
    (_, index) =>
      new WorkerPool<S, E>({
        leaseMs: 3000,
        heartbeatMs: 50,
        blockMs: 1000,
        livenessEveryMs: 1000,
        ...options,
        workerId: `test-${index}`,
        store,
        workflow: def,
      }),
  );
  for (const pool of pools) pool.start();
  return {
    store,
    orchestrator: new Orchestrator(store, def),
    pools,
    stop: async () => {
      await Promise.all(pools.map((pool) => pool.stop({ graceMs: 2000 })));
    },
  };
}

/** A promise with its resolve function exposed: lets a test hold a node at a known point. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
