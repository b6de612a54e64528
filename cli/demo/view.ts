/**
 * The demo's terminal view: a live block of progress bars redrawn in place when stdout is a
 * TTY (log-update measures wrapped lines, so a narrow terminal redraws cleanly), one plain line
 * per update otherwise (logs, CI, tests). Messages (scale events, worker exits) are printed
 * above the live block. Bars have fixed scales: runs out of all runs, backlog out of the
 * backlog that asks for every worker, workers out of the most workers.
 */
import { createLogUpdate } from "log-update";
import type { QueueDepth } from "../../worker/store/index.ts";

export interface ViewState {
  readonly runsStarted: number;
  readonly runsDone: number;
  readonly runsFailed: number;
  readonly runsTotal: number;
  readonly depth: QueueDepth | undefined;
  readonly workers: number;
  readonly workersRunning: number;
  readonly workersDraining: number;
  readonly desired: number;
  readonly maxWorkers: number;
  /** The backlog at which the scaler wants every worker: the backlog bars' full scale. */
  readonly backlogScale: number;
  readonly reason: string | undefined;
  readonly steps: number;
  readonly seconds: number;
}

export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

const rate = (state: ViewState): number => Math.round(state.steps / Math.max(state.seconds, 0.001));
const NO_DEPTH: QueueDepth = { ready: 0, inFlight: 0, delayed: 0, dead: 0 };

/** The plain progress line; starts with `runs N/T ` (scripts read it). */
export function plainLine(state: ViewState): string {
  const depth = state.depth ?? NO_DEPTH;
  return (
    `runs ${state.runsDone + state.runsFailed}/${state.runsTotal}  started ${state.runsStarted}  ready ${depth.ready}  ` +
    `in flight ${depth.inFlight}  delayed ${depth.delayed}  dead ${depth.dead}  workers ${state.workers} ` +
    `(desired ${state.desired})  steps ${state.steps}  ${rate(state)} steps/s`
  );
}

/** The live block: short lines (at most 72 columns) so an 80-column terminal shows it unwrapped. */
export function liveBlock(state: ViewState): string[] {
  const depth = state.depth ?? NO_DEPTH;
  const finished = state.runsDone + state.runsFailed;
  const scale = Math.max(state.backlogScale, 1);
  const starting = state.workers - state.workersRunning;
  return [
    `runs      ${bar(finished / state.runsTotal)} ${finished}/${state.runsTotal} done, ${state.runsStarted} started`,
    `ready     ${bar(depth.ready / scale)} ${depth.ready}${depth.ready > scale ? "+" : ""}`,
    `in flight ${bar(depth.inFlight / scale)} ${depth.inFlight}  delayed ${depth.delayed}  dead ${depth.dead}`,
    `workers   ${bar(state.workers / Math.max(state.maxWorkers, 1))} ${state.workers}/${state.maxWorkers} (desired ${state.desired})`,
    `          ${state.workersRunning} running, ${starting} starting, ${state.workersDraining} draining; failed runs ${state.runsFailed}`,
    `steps     ${state.steps}  ${rate(state)} steps/s  ${state.seconds.toFixed(1)} s`,
  ];
}

export interface Sample {
  readonly seconds: number;
  readonly workers: number;
  readonly backlog: number;
}

const LEVELS = " ▁▂▃▄▅▆▇█";

/** One row of block characters for `values`, resampled to `width` columns, scaled to `max`. */
export function sparkline(values: readonly number[], width: number, max: number): string {
  if (values.length === 0) return "";
  const columns = Math.min(width, values.length);
  let row = "";
  for (let c = 0; c < columns; c += 1) {
    const from = Math.floor((c * values.length) / columns);
    const to = Math.max(from + 1, Math.floor(((c + 1) * values.length) / columns));
    const peak = Math.max(...values.slice(from, to));
    row += LEVELS[Math.round((Math.min(peak, max) / Math.max(max, 1)) * (LEVELS.length - 1))];
  }
  return row;
}

/** The end-of-demo chart: workers and backlog over time, one row each, 56 columns wide. */
export function chart(samples: readonly Sample[], maxWorkers: number): string[] {
  if (samples.length === 0) return [];
  const backlog = samples.map((s) => s.backlog);
  const peak = Math.max(...backlog, 1);
  const seconds = samples.at(-1)?.seconds ?? 0;
  return [
    `workers  |${sparkline(
      samples.map((s) => s.workers),
      56,
      maxWorkers,
    )}| max ${maxWorkers}`,
    `backlog  |${sparkline(backlog, 56, peak)}| peak ${peak}`,
    `          0 s${`${seconds.toFixed(1)} s`.padStart(Math.min(56, samples.length) - 2)}`,
  ];
}

export class ProgressView {
  private lastPlainAt = -Infinity;
  private block = "";
  private readonly render: ReturnType<typeof createLogUpdate> | undefined;

  private readonly out: Output;
  private readonly plainEveryMs: number;

  constructor(out: Output, plainEveryMs = 500) {
    this.out = out;
    this.plainEveryMs = plainEveryMs;
    this.render =
      out.isTTY === true ? createLogUpdate(out as NodeJS.WriteStream, { showCursor: true }) : undefined;
  }

  get live(): boolean {
    return this.render !== undefined;
  }

  /** A message line (scale event, worker exit), above the live block. */
  message(text: string): void {
    if (this.render === undefined) {
      this.out.write(`${text}\n`);
      return;
    }
    this.render.clear();
    this.out.write(`${text}\n`);
    if (this.block !== "") this.render(this.block);
  }

  update(state: ViewState, force = false): void {
    if (this.render !== undefined) {
      this.block = liveBlock(state).join("\n");
      this.render(this.block);
      return;
    }
    const now = performance.now();
    if (!force && now - this.lastPlainAt < this.plainEveryMs) return;
    this.lastPlainAt = now;
    this.out.write(`${plainLine(state)}\n`);
  }

  /** Leaves the last live block on screen and stops redrawing over it. */
  finish(): void {
    this.render?.done();
    this.block = "";
  }
}
