/** The benchmark's workflows: one no-op node, and a chain of three no-op nodes. */
import { next, node, workflow } from "../worker/sdk/index.ts";

const noop = (name: string) => node(name, (_ctx, input: unknown) => next(input));

export const noop1 = workflow({ name: "bench-noop1", version: "1", start: "a", nodes: [noop("a")] });

export const chain3 = workflow({
  name: "bench-chain3",
  version: "1",
  start: "a",
  nodes: [noop("a"), noop("b"), noop("c")],
  edges: { a: ["b"], b: ["c"] },
});

export const BENCH_WORKFLOWS = { noop1, chain3 } as const;
export type BenchWorkflow = keyof typeof BENCH_WORKFLOWS;
export const STEPS_PER_RUN: Record<BenchWorkflow, number> = { noop1: 1, chain3: 3 };
