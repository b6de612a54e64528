// The scaler's clock: every tick, the WorkflowDeployments whose poll interval has elapsed are
// read from Redis (one round trip per endpoint for all of them), the readings are stored, and
// each key is handed to the work queue, whose reconcile turns the reading into replicas.
import type { Logger } from "pino";
import type { WorkflowDeployment } from "../api/workflow-deployment.ts";
import type { BacklogReader, BacklogTarget } from "../backlog/reader.ts";
import { backlogTarget, type SecretReader } from "../backlog/target.ts";
import type { ScalerState } from "./scaler-state.ts";

export interface BacklogPollerOptions {
  readonly reader: BacklogReader;
  readonly secrets: SecretReader;
  readonly state: ScalerState;
  /** The WorkflowDeployments to poll (from the informer cache). */
  readonly list: () => readonly WorkflowDeployment[];
  readonly onObserved: (key: string) => void;
  readonly onPollError?: (key: string, message: string) => void;
  readonly logger: Logger;
  readonly tickMs?: number;
  readonly now?: () => number;
}

export const keyOf = (wfd: WorkflowDeployment): string => `${wfd.metadata.namespace}/${wfd.metadata.name}`;

export class BacklogPoller {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly now: () => number;
  /** When the last tick started (ms): the scaler loop's heartbeat for /healthz. */
  lastTickAt = 0;

  private readonly options: BacklogPollerOptions;

  constructor(options: BacklogPollerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.tickMs ?? 250);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** One pass: polls what is due. Never runs twice at once. */
  tick(): Promise<void> {
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async poll(): Promise<void> {
    const { state, logger } = this.options;
    const now = this.now();
    this.lastTickAt = Date.now();
    const due = this.options.list().filter((wfd) => {
      if (wfd.metadata.deletionTimestamp) return false;
      const last = state.lastPollAt(keyOf(wfd));
      return last === undefined || now - last >= wfd.spec.scaling.pollIntervalSeconds * 1000;
    });
    if (due.length === 0) return;
    const targets: BacklogTarget[] = [];
    for (const wfd of due) {
      try {
        targets.push(await backlogTarget(wfd, this.options.secrets));
      } catch (error) {
        const key = keyOf(wfd);
        const message = (error as Error).message;
        state.observe(key, { reading: { ok: false, error: message }, at: now });
        this.options.onPollError?.(key, message);
        this.options.onObserved(key);
      }
    }
    if (targets.length === 0) return;
    let readings;
    try {
      readings = await this.options.reader.read(targets);
    } catch (error) {
      logger.error({ err: error }, "Backlog read failed");
      return;
    }
    const at = this.now();
    for (const target of targets) {
      const reading = readings.get(target.key) ?? { ok: false as const, error: "no reading returned" };
      state.observe(target.key, { reading, at });
      if (!reading.ok) this.options.onPollError?.(target.key, reading.error);
      this.options.onObserved(target.key);
    }
  }
}
