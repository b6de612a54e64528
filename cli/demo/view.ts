/**
 * The demo's terminal view: a live block of progress bars redrawn in place when stdout is a
 * TTY, one plain line per update otherwise (logs, CI, tests). Messages (scale events, worker
 * exits) are printed above the live block.
 */
import type { QueueDepth } from "../../worker/store/index.ts";

export interface ViewState {
  readonly runsDone: number;
  readonly runsFailed: number;
  readonly runsTotal: number;
  readonly depth: QueueDepth | undefined;
  readonly workers: number;
  readonly workersRunning: number;
  readonly workersDraining: number;
  readonly desired: number;
  readonly maxWorkers: number;
  readonly reason: string | undefined;
  readonly steps: number;
  readonly seconds: number;
}

export interface Output {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

const rate = (state: ViewState): number => Math.round(state.steps / Math.max(state.seconds, 0.001));

/** The plain progress line; starts with `runs N/T ` (scripts read it). */
export function plainLine(state: ViewState): string {
  const depth = state.depth ?? { ready: 0, inFlight: 0, delayed: 0, dead: 0 };
  return (
    `runs ${state.runsDone + state.runsFailed}/${state.runsTotal}  ready ${depth.ready}  in flight ${depth.inFlight}  ` +
    `delayed ${depth.delayed}  dead ${depth.dead}  workers ${state.workers} (desired ${state.desired})  ` +
    `steps ${state.steps}  ${rate(state)} steps/s`
  );
}

export function liveBlock(state: ViewState): string[] {
  const depth = state.depth ?? { ready: 0, inFlight: 0, delayed: 0, dead: 0 };
  const finished = state.runsDone + state.runsFailed;
  const backlog = depth.ready + depth.inFlight + depth.delayed;
  const scale = Math.max(backlog, 1);
  const workerScale = Math.max(state.maxWorkers, state.workers, 1);
  return [
    `runs     ${bar(finished / state.runsTotal)} ${finished}/${state.runsTotal} done, ${state.runsFailed} failed`,
    `backlog  ${bar(depth.ready / scale, 8)} ready ${depth.ready}  ${bar(depth.inFlight / scale, 8)} in flight ${depth.inFlight}  delayed ${depth.delayed}  dead ${depth.dead}`,
    `workers  ${bar(state.workers / workerScale, 8)} ${state.workersRunning} running, ${state.workers - state.workersRunning} starting, ${state.workersDraining} draining  (desired ${state.desired}${state.reason === undefined ? "" : `: ${state.reason}`})`,
    `steps    ${state.steps}  ${rate(state)} steps/s  ${state.seconds.toFixed(1)} s`,
  ];
}

export class ProgressView {
  private drawn = 0;
  private lastPlainAt = -Infinity;

  private readonly out: Output;
  private readonly plainEveryMs: number;

  constructor(out: Output, plainEveryMs = 500) {
    this.out = out;
    this.plainEveryMs = plainEveryMs;
  }

  get live(): boolean {
    return this.out.isTTY === true;
  }

  /** A message line (scale event, worker exit), above the live block. */
  message(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
  }

  update(state: ViewState, force = false): void {
    if (this.live) {
      this.clear();
      const lines = liveBlock(state);
      this.out.write(`${lines.join("\n")}\n`);
      this.drawn = lines.length;
      return;
    }
    const now = performance.now();
    if (!force && now - this.lastPlainAt < this.plainEveryMs) return;
    this.lastPlainAt = now;
    this.out.write(`${plainLine(state)}\n`);
  }

  /** Leaves the last live block on screen and stops redrawing over it. */
  finish(): void {
    this.drawn = 0;
  }

  private clear(): void {
    if (!this.live || this.drawn === 0) return;
    // Up to the first line of the block, then clear to the end of the screen.
    this.out.write(`\x1b[${this.drawn}A\r\x1b[J`);
    this.drawn = 0;
  }
}
