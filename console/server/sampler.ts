/**
 * The Workflows page's history: backlog samples of the last minutes and steps/s, derived from
 * successive readings of each workflow's counters (steps = completed + failed + retried + held
 * over its nodes: cli/local's stepsOf). Pure bookkeeping; the views feed it what they read.
 */
import type { QueueDepth } from "../../worker/store/index.ts";

export interface Sample extends QueueDepth {
  readonly at: number;
  readonly stepsPerSecond: number | null;
}

export class WorkflowSampler {
  private readonly history = new Map<string, { samples: Sample[]; steps: number; at: number }>();
  private readonly windowMs: number;

  constructor(windowMs = 10 * 60_000) {
    this.windowMs = windowMs;
  }

  record(workflow: string, at: number, depth: QueueDepth, steps: number): readonly Sample[] {
    const entry = this.history.get(workflow);
    if (entry !== undefined && at <= entry.at) return entry.samples;
    const stepsPerSecond =
      entry === undefined ? null : Math.max(0, steps - entry.steps) / ((at - entry.at) / 1000);
    const samples = entry?.samples ?? [];
    samples.push({ at, ...depth, stepsPerSecond });
    while (samples.length > 0 && (samples[0] as Sample).at < at - this.windowMs) samples.shift();
    this.history.set(workflow, { samples, steps, at });
    return samples;
  }
}
