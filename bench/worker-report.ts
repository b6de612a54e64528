/**
 * What a benchmark worker process (floxide-worker.ts, bullmq-worker.ts) tells the parent over IPC
 * every 10 ms: its committed steps (BullMQ: completed jobs) so far and its own CPU time so far,
 * so the parent measures both over the same window without adding Redis traffic.
 */
export interface WorkerReport {
  readonly done: number;
  /** User + system CPU of the worker process since it started, µs. */
  readonly cpuUs: number;
  readonly ready?: true;
}

export function workerReport(done: number, ready?: true): WorkerReport {
  const { user, system } = process.cpuUsage();
  return ready === undefined ? { done, cpuUs: user + system } : { done, cpuUs: user + system, ready };
}

/** Sends a report every 10 ms and one now (ready); returns the timer to clear on SIGTERM. */
export function reportEvery10ms(done: () => number): NodeJS.Timeout {
  process.send?.(workerReport(done(), true));
  return setInterval(() => process.send?.(workerReport(done())), 10);
}
