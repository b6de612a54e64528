/**
 * The benchmark's workflows, and what each is compared with in BullMQ:
 * - noop1: one no-op node; BullMQ: one job.
 * - chain3: three no-op nodes in a chain; BullMQ: the processor adds the next job (`jobs`), or a
 *   3-level FlowProducer tree, leaf first, each parent reading its child's value (`flow`).
 * - fan10: a node fans out to 10 branches and a join gets their 10 values; BullMQ: a
 *   FlowProducer parent with 10 children that reads their values (`flow`). floxide does one
 *   step more per run (the node that fans out), so these rows compare runs per second.
 */
import { join, next, nextAll, node, workflow } from "../worker/sdk/index.ts";

const noop = (name: string) => node(name, (_ctx, input: unknown) => next(input));

export const noop1 = workflow({ name: "bench-noop1", version: "1", start: "a", nodes: [noop("a")] });

export const chain3 = workflow({
  name: "bench-chain3",
  version: "1",
  start: "a",
  nodes: [noop("a"), noop("b"), noop("c")],
  edges: { a: ["b"], b: ["c"] },
});

export const FAN_OUT = 10;

export const fan10 = workflow({
  name: "bench-fan10",
  version: "1",
  start: "split",
  nodes: [
    node("split", (_ctx, input: unknown) => nextAll(Array.from({ length: FAN_OUT }, () => input))),
    noop("work"),
    join("gather", (_ctx, inputs: unknown[]) => next(inputs.length)),
  ],
  edges: { split: ["work"], work: ["gather"] },
});

export const BENCH_WORKFLOWS = { noop1, chain3, fan10 } as const;
export type BenchWorkflow = keyof typeof BENCH_WORKFLOWS;
export const STEPS_PER_RUN: Record<BenchWorkflow, number> = { noop1: 1, chain3: 3, fan10: FAN_OUT + 2 };

/** How BullMQ builds the same work: plain jobs (the processor adds the next one) or a flow. */
export type BullmqStyle = "jobs" | "flow";
export const BULLMQ_JOBS_PER_RUN: Record<BenchWorkflow, number> = { noop1: 1, chain3: 3, fan10: FAN_OUT + 1 };
