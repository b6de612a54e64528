/**
 * Whether and why a step must stop, without an AbortController per step: the AbortSignal a node
 * can observe (`ctx.signal`) is made only when the node reads it. The lease keeper stops a step
 * whose lease was lost or whose run finished, the pool on drain, the step runner on timeout;
 * the first reason wins.
 */
export class StepStop {
  private stopped = false;
  private why: unknown = undefined;
  private controller: AbortController | null = null;
  private listeners: (() => void)[] | null = null;

  get aborted(): boolean {
    return this.stopped;
  }

  get reason(): unknown {
    return this.why;
  }

  abort(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.why = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = null;
    if (listeners !== null) for (const listener of listeners) listener();
  }

  /** The signal for node code, made on first read (already aborted if the step was stopped). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Calls `listener` once when the step is stopped (at once if it is already). */
  onAbort(listener: () => void): void {
    if (this.stopped) listener();
    else (this.listeners ??= []).push(listener);
  }
}
