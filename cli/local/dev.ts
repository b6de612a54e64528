/**
 * `floxide dev --workflow <module>`: the demo's local loop for your own workflow. Workers (worker
 * processes on Redis, in-process pools on memory) scale from zero with the backlog, restart when
 * a source file next to the module changes, and run until Ctrl-C. Runs start from `--input`,
 * from JSON lines typed on stdin, or (on Redis) from `floxide run start` in another terminal.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { Orchestrator } from "../../worker/engine/index.ts";
import { FloxideError, type WorkflowDef } from "../../worker/sdk/index.ts";
import { isTerminal, redactRedisUrl } from "../../worker/store/index.ts";
import { LocalCluster } from "./local-cluster.ts";
import { openLocalStore, type LocalStore } from "./local-store.ts";
import { importWorkflowFresh, watchModule } from "./module-loader.ts";
import { describeScale } from "./scaler.ts";
import { readInput } from "../run.ts";
import { resolveOptions, type ParsedOptions } from "../../contract/index.ts";
import { DEV_OPTIONS } from "../command-options.ts";
import { UsageError } from "../options.ts";
import type { Invocation } from "../program.ts";

export type DevOptions = ParsedOptions<typeof DEV_OPTIONS>;

/** `floxide dev [module]` from the command line. */
export function devAction({ args, flags, env }: Invocation): Promise<number> {
  return dev(resolveOptions(DEV_OPTIONS, flags, env), args[0], env);
}

export async function dev(
  options: DevOptions,
  moduleArgument: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const modulePath = options.workflow ?? moduleArgument;
  if (modulePath === undefined)
    throw new UsageError("--workflow <module> (or the module as argument) is required");
  const { runs, concurrency, maxWorkers, target } = options;
  const initialInput = options.input === undefined ? undefined : await readInput(options.input);
  const absolute = resolve(modulePath);
  const say = (text: string): void => void process.stdout.write(`${text}\n`);

  let def = await importWorkflowFresh(absolute);
  let lastCrash = "";
  let brokenSince: string | undefined;
  const local: LocalStore = await openLocalStore({
    prefer: options.backend as "auto" | "redis" | "memory",
    redisUrl: options.redisUrl,
    keyPrefix: options.keyPrefix,
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
      namePrefix: `dev-worker-${process.pid}`,
      env,
      onScale: (event) => say(describeScale(event)),
      onFleetEvent: (event) => {
        // The same crash again and again says nothing new: say it once.
        if (event.kind !== "crashed" || event.detail.replace(/^exited with \S+/, "") === lastCrash) return;
        lastCrash = event.detail.replace(/^exited with \S+/, "");
        say(`worker ${event.worker} ${event.detail}`);
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
    const redis = redactRedisUrl(local.redisUrl);
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
        // Hold the fleet: a worker started now would load the broken file and crash, again and
        // again while the backlog asks for one. Say why once per distinct reason.
        cluster.fleet.held = true;
        if (brokenSince !== message) {
          brokenSince = message;
          say(
            `${file} changed, but the module does not load: ${message}\n` +
              `  running workers keep '${def.name}'@${def.version}; no new worker starts until it loads again`,
          );
        }
        return;
      }
      brokenSince = undefined;
      lastCrash = "";
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
