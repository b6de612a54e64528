/**
 * `floxide dev --workflow <module>`: the demo's local loop for your own workflow. Workers (worker
 * processes on Redis, in-process pools on memory) scale from zero with the backlog, restart when
 * a source file next to the module changes, and run until Ctrl-C. Runs start from `--input`,
 * from JSON lines typed on stdin, or (on Redis) from `floxide run start` in another terminal.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { Orchestrator } from "../worker/engine/index.ts";
import { FloxideError, type WorkflowDef } from "../worker/sdk/index.ts";
import { isTerminal } from "../worker/store/index.ts";
import { LocalCluster } from "./demo/local-cluster.ts";
import { openLocalStore, withoutCredentials, type LocalStore } from "./demo/local-store.ts";
import { importWorkflowFresh, watchModule } from "./dev/module-loader.ts";
import { readInput } from "./run.ts";
import { intOption, parse, UsageError } from "./usage.ts";

const USAGE = `usage: floxide dev --workflow <module> [--input <json|@file>] [--runs N] [--concurrency N]
                   [--max-workers N] [--target N] [--backend auto|redis|memory] [--key-prefix P]

Runs your workflow module locally until Ctrl-C: on the Redis at REDIS_URL, else on a
redis-server from PATH (started on a free port, stopped at the end), else on the memory backend.
Workers scale from zero with the backlog (the operator's policy) and restart when a source file
in the module's directory changes (a module that fails to load keeps the previous workers).

  --input J      start --runs runs (default 1) with this input (JSON, or @file) at start
  --concurrency  steps one worker runs at once (default 4)
  --max-workers  most workers (default 4); --target: backlog items per worker (default 10)
  --key-prefix   Redis key prefix (default floxide, what 'floxide run' uses)

Type a JSON input and Enter to start a run; its result is printed when it ends. On Redis,
'floxide run start|show|list ...' from another terminal works too (the command is printed).
Exit codes: 0 after Ctrl-C (workers drained), 1 the module does not load at start, 2 usage.`;

const BACKENDS = ["auto", "redis", "memory"] as const;

export async function dev(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      workflow: { type: "string" },
      input: { type: "string" },
      runs: { type: "string" },
      concurrency: { type: "string" },
      "max-workers": { type: "string" },
      target: { type: "string" },
      backend: { type: "string" },
      "key-prefix": { type: "string" },
    },
    USAGE,
  );
  const modulePath = values.workflow ?? positionals[0];
  if (modulePath === undefined) throw new UsageError(`--workflow <module> is required\n\n${USAGE}`);
  const backendChoice = values.backend ?? "auto";
  if (!(BACKENDS as readonly string[]).includes(backendChoice))
    throw new UsageError(`--backend must be one of ${BACKENDS.join(", ")}, got '${backendChoice}'`);
  const runs = intOption(values.runs, "runs", 1, 1, 100_000);
  const concurrency = intOption(values.concurrency, "concurrency", 4, 1, 1000);
  const maxWorkers = intOption(values["max-workers"], "max-workers", 4, 1, 64);
  const target = intOption(values.target, "target", 10, 1, 1_000_000);
  const initialInput = values.input === undefined ? undefined : await readInput(values.input);
  const absolute = resolve(modulePath);
  const say = (text: string): void => void process.stdout.write(`${text}\n`);

  let def = await importWorkflowFresh(absolute);
  const local: LocalStore = await openLocalStore({
    prefer: backendChoice as (typeof BACKENDS)[number],
    keyPrefix: values["key-prefix"] ?? "floxide",
    env,
  });
  const makeCluster = (workflow: WorkflowDef<unknown, unknown>): LocalCluster =>
    new LocalCluster({
      local,
      workflow,
      workflowModule: absolute,
      concurrency,
      maxWorkers,
      targetPerWorker: target,
      drainTimeoutSeconds: 10,
      pollMs: 250,
      namePrefix: `dev-worker-${process.pid}`,
      env,
      onScale: (event) =>
        say(`scale: ${event.from} -> ${event.to} workers (${event.reason}: ${event.message})`),
      onFleetEvent: (event) => {
        if (event.kind === "crashed") say(`worker ${event.worker} ${event.detail}`);
      },
    });
  let cluster = makeCluster(def);
  let orchestrator = new Orchestrator(cluster.store, def);
  cluster.start();

  say(`floxide dev: workflow '${def.name}'@${def.version} from ${modulePath} on ${local.description}`);
  say(
    `workers: ${cluster.fleet.kind}, 0 to ${maxWorkers} (${concurrency} steps each), restarted when ${modulePath} or its neighbours change`,
  );
  if (local.redisUrl !== undefined) {
    const redis = withoutCredentials(local.redisUrl);
    const prefix = local.keyPrefix === "floxide" ? "" : ` --key-prefix ${local.keyPrefix}`;
    say("start runs from another terminal:");
    say(`  npx floxide run start ${modulePath} --input '<json>' --redis ${redis}${prefix} --wait`);
    say(`  npx floxide run show <run-id> --workflow ${def.name} --redis ${redis}${prefix}`);
  } else {
    say("memory backend: 'floxide run' from another terminal cannot reach it; start runs here.");
  }
  say("type a JSON input and Enter to start a run; Ctrl-C to stop");

  const watching = new Map<string, number>();
  const startRun = async (input: unknown): Promise<void> => {
    const { runId } = await orchestrator.start(input);
    watching.set(runId, performance.now());
    say(`run ${runId} started`);
  };
  const report = async (): Promise<void> => {
    for (const [runId, startedAt] of watching) {
      const info = await cluster.store.getRun(runId);
      if (info === null || !isTerminal(info.status)) continue;
      watching.delete(runId);
      const took = `${Math.round(performance.now() - startedAt)} ms`;
      const outcome =
        info.error !== null
          ? `${info.error.code}: ${info.error.message}${info.error.node ? ` (node ${info.error.node})` : ""}`
          : JSON.stringify(info.outputs.map((output) => output.value));
      say(`run ${runId} ${info.status} in ${took}: ${outcome}`);
    }
  };

  let reloading = Promise.resolve();
  const reload = (file: string): void => {
    reloading = reloading.then(async () => {
      let next: WorkflowDef<unknown, unknown>;
      try {
        next = await importWorkflowFresh(absolute);
      } catch (error) {
        const message = error instanceof FloxideError ? `${error.code}: ${error.message}` : String(error);
        say(
          `${file} changed, but the module does not load; the workers keep the previous version: ${message}`,
        );
        return;
      }
      say(
        `${file} changed: draining ${cluster.fleet.size} workers, restarting with '${next.name}'@${next.version}`,
      );
      await cluster.stop();
      def = next;
      cluster = makeCluster(def);
      orchestrator = new Orchestrator(cluster.store, def);
      cluster.start();
    });
  };
  const watcher = watchModule(absolute, reload);

  const lines = createInterface({ input: process.stdin, terminal: false });
  lines.on("line", (line) => {
    const text = line.trim();
    if (text === "") return;
    void readInput(text)
      .then((input) => reloading.then(() => startRun(input)))
      .catch((error: unknown) =>
        say(`not started: ${(error as Error).message.replace(/^--input/, "input")}`),
      );
  });

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    if (initialInput !== undefined) for (let i = 0; i < runs; i += 1) await startRun(initialInput);
    while (!stop.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      await report().catch((error: unknown) => say(`cannot read run status: ${(error as Error).message}`));
    }
    say("stopping: draining the workers");
  } finally {
    lines.close();
    watcher.close();
    await reloading;
    await cluster.stop();
    await local.close();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  return 0;
}
