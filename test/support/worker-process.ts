/** Starts real `floxide worker` processes for tests and reads their JSON logs. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { eachLine } from "../../common/lines.ts";
import { waitFor } from "./wait.ts";

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly name: string;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  signal(signal: NodeJS.Signals): void;
  stderr(): string;
}

export interface WorkerProcessOptions {
  readonly workflow: string;
  readonly redisUrl: string;
  readonly name?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** The CLI entry to run (default: this checkout's cli/main.ts), e.g. an installed dist/cli/bin.js. */
  readonly entry?: string;
  /** Working directory (default: this process's). */
  readonly cwd?: string;
}

let started = 0;

export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const name = options.name ?? `test-worker-${process.pid}-${(started += 1)}`;
  const child = spawn(
    process.execPath,
    [
      options.entry ?? "cli/main.ts",
      "worker",
      "--workflow",
      options.workflow,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      ...(options.args ?? []),
    ],
    {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: {
        ...process.env,
        FLOXIDE_REDIS_URL: options.redisUrl,
        POD_NAME: name,
        FLOXIDE_LOG_LEVEL: "info",
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  eachLine(child.stdout, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "exit").then(([code, signal]) => (code ?? signal) as number | string);
  const died = new AbortController();
  void exited.then(() => died.abort(new Error(`worker ${name} exited early: ${stderr.slice(-2000)}`)));
  const startedLine = await waitFor(() => logs.find((l) => l.msg === "worker started"), {
    timeoutMs: 30_000,
    intervalMs: 25,
    message: `worker ${name} to start`,
    signal: died.signal,
  });
  return {
    child,
    pid: child.pid as number,
    port: startedLine.port as number,
    name,
    logs,
    exited,
    signal: (signal) => {
      child.kill(signal);
    },
    stderr: () => stderr,
  };
}

/** Kills every given process that is still running (test cleanup). */
export async function killAll(workers: readonly WorkerProcess[]): Promise<void> {
  await Promise.all(
    workers.map(async (worker) => {
      if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
      worker.child.kill("SIGCONT");
      worker.child.kill("SIGKILL");
      await worker.exited;
    }),
  );
}
