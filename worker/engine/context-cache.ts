import { FloxideError, foldEvents, type ContextSpec } from "../sdk/index.ts";
import type { CheckpointStore, ContextStore } from "../store/index.ts";

interface Entry {
  seq: number;
  state: unknown;
  checkpointSeq: number;
}

export interface ContextView {
  readonly seq: number;
  readonly state: unknown;
}

/**
 * A worker's cache of folded run state. A step reads only the events committed since the
 * cached sequence, so the per-step cost does not grow with the run's length; a worker that
 * has never seen the run starts from the newest checkpoint.
 */
export class ContextCache {
  private readonly entries = new Map<string, Entry>();
  private readonly store: ContextStore & CheckpointStore;
  private readonly spec: ContextSpec<unknown, unknown>;
  private readonly capacity: number;
  private readonly checkpointEvery: number;
  private epoch: number | undefined;

  constructor(
    store: ContextStore & CheckpointStore,
    spec: ContextSpec<unknown, unknown>,
    options: { capacity?: number; checkpointEvery?: number } = {},
  ) {
    this.store = store;
    this.spec = spec;
    this.capacity = options.capacity ?? 1000;
    this.checkpointEvery = options.checkpointEvery ?? 200;
    this.epoch = store.connectionEpoch;
  }

  /**
   * `knownSeq` (from the claim: the log's length then) lets a step skip every read when the
   * cache is current. An entry ahead of it is dropped: the log lost its tail (Redis came back
   * from an AOF that missed acknowledged writes), or, rarely, another step of this worker read
   * newer events after this claim; folding again from the checkpoint is right in both cases.
   * Every entry is dropped when the store reconnected, since the data may have rolled back.
   */
  async load(runId: string, knownSeq?: number): Promise<ContextView> {
    if (this.store.connectionEpoch !== this.epoch) {
      this.entries.clear();
      this.epoch = this.store.connectionEpoch;
    }
    let entry = this.entries.get(runId);
    if (entry !== undefined && knownSeq !== undefined && entry.seq > knownSeq) {
      this.entries.delete(runId);
      entry = undefined;
    }
    if (knownSeq !== undefined && (entry?.seq ?? 0) >= knownSeq) {
      if (entry === undefined) return { seq: 0, state: this.spec.initial() };
      this.entries.delete(runId); // re-inserted: Map order doubles as LRU order
      this.entries.set(runId, entry);
      return { seq: entry.seq, state: entry.state };
    }
    if (entry === undefined) {
      const checkpoint = await this.store.loadCheckpoint(runId);
      entry =
        checkpoint === null
          ? { seq: 0, state: this.spec.initial(), checkpointSeq: 0 }
          : { seq: checkpoint.seq, state: checkpoint.state, checkpointSeq: checkpoint.seq };
    } else {
      this.entries.delete(runId); // re-inserted below: Map order doubles as LRU order
    }
    const events = await this.store.readEvents(runId, entry.seq);
    if (events.length > 0) {
      try {
        entry.state = foldEvents(this.spec, entry.state, events);
      } catch (error) {
        throw new FloxideError(
          "ReducerFailed",
          `the context reducer threw on a committed event: ${String(error)}`,
          {
            runId,
          },
          { cause: error },
        );
      }
      entry.seq = (events[events.length - 1] as { seq: number }).seq;
    }
    this.entries.set(runId, entry);
    this.evict();
    if (entry.seq - entry.checkpointSeq >= this.checkpointEvery) {
      await this.store.saveCheckpoint(runId, { seq: entry.seq, state: entry.state });
      entry.checkpointSeq = entry.seq;
    }
    return { seq: entry.seq, state: entry.state };
  }

  forget(runId: string): void {
    this.entries.delete(runId);
  }

  private evict(): void {
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
