// What the operator remembers per WorkflowDeployment between reconciles: the latest backlog
// reading (written by the poller) and the scaling policy's memory (written by the reconciler
// when it consumes a new reading). In memory only: lastActiveTime in the status carries the
// cooldown across restarts, and an empty memory restarts the stabilization window.
import type { BacklogReading } from "../backlog/reader.ts";
import type { ScalingMemory } from "../policy/scaling.ts";

export interface Observation {
  readonly reading: BacklogReading;
  /** When the reading was taken (ms). */
  readonly at: number;
}

interface Entry {
  observation?: Observation;
  lastPollAt?: number;
  memory?: ScalingMemory;
  consumedAt?: number;
}

export class ScalerState {
  private readonly entries = new Map<string, Entry>();

  private entry(key: string): Entry {
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = {}));
    return entry;
  }

  observe(key: string, observation: Observation): void {
    const entry = this.entry(key);
    entry.observation = observation;
    entry.lastPollAt = observation.at;
  }

  /** A poll was attempted (even if the target could not be resolved). */
  polled(key: string, at: number): void {
    this.entry(key).lastPollAt = at;
  }

  lastPollAt(key: string): number | undefined {
    return this.entries.get(key)?.lastPollAt;
  }

  observation(key: string): Observation | undefined {
    return this.entries.get(key)?.observation;
  }

  memory(key: string): ScalingMemory | undefined {
    return this.entries.get(key)?.memory;
  }

  /** True when the observation has not been fed to the policy yet. */
  isNew(key: string, observation: Observation): boolean {
    const consumed = this.entries.get(key)?.consumedAt;
    return consumed === undefined || observation.at > consumed;
  }

  consume(key: string, observation: Observation, memory: ScalingMemory): void {
    const entry = this.entry(key);
    entry.memory = memory;
    entry.consumedAt = observation.at;
  }

  /** Forgets a WorkflowDeployment: its entry and its versions' (`<key>@<version>`). */
  forget(key: string): void {
    this.entries.delete(key);
    for (const entry of this.entries.keys()) if (entry.startsWith(`${key}@`)) this.entries.delete(entry);
  }
}
