import type { Logger } from "../sdk/index.ts";
import { corruptionOf } from "../store/index.ts";

/** The parts of a worker that call the store, each reporting its last outcome. */
export type StoreCaller = "claim loop" | "lease renewal" | "lease sweep" | "liveness";

/**
 * Whether the store answers but cannot be used: a call refused because a key is corrupt (the
 * wrong type, a function failing on it). Each caller reports its last outcome; the store is
 * unusable while any caller's last call was refused. /readyz and the `floxide_store_unusable`
 * gauge read it, and the change is logged once each way, not once per refused call.
 */
export class StoreHealth {
  private readonly problems = new Map<StoreCaller, string>();
  private readonly log: Logger;
  private reported: string | null = null;

  constructor(log: Logger) {
    this.log = log;
  }

  /** The reason the store cannot be used (naming the key), or null. */
  get problem(): string | null {
    const first = this.problems.values().next();
    return first.done === true ? null : first.value;
  }

  /** A call failed; true when it was refused for corrupt data (then already logged, once). */
  failed(caller: StoreCaller, error: unknown): boolean {
    const corrupt = corruptionOf(error);
    if (corrupt === null) return false;
    this.problems.set(caller, corrupt);
    this.changed();
    return true;
  }

  succeeded(caller: StoreCaller): void {
    if (this.problems.delete(caller)) this.changed();
  }

  private changed(): void {
    const problem = this.problem;
    if (problem === this.reported) return;
    if (problem === null) this.log.info({ was: this.reported }, "store usable again");
    else
      this.log.error(
        { problem },
        `store unusable: ${problem}; fix or delete that key (see docs/troubleshooting.md)`,
      );
    this.reported = problem;
  }
}
