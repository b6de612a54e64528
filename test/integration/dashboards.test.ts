// Every metric a Grafana dashboard of the chart queries is exported: a real worker process and
// a real operator (on a real control plane) run a small workload, their /metrics are scraped,
// every PromQL expression of the dashboards is parsed, and each metric name (histograms: the
// _bucket/_sum/_count series) and each label it filters on must be there.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { Orchestrator } from "../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import type { StoreBackend } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { dashboardFiles, parseExposition, queriesOf, selectorsOf } from "../support/dashboards.ts";
import { installOperatorResources, workflowDeployment } from "../support/operator.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "../support/worker-process.ts";

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKFLOW = "test/integration/cli/retry-and-fail.workflow.ts";
/** Labels Prometheus adds to every scraped series (the chart's monitors set namespace and pod). */
const TARGET_LABELS = new Set(["namespace", "pod", "job", "instance", "container", "workflow_deployment"]);

describe("the PromQL reader", () => {
  test("finds metric names and matcher labels, not functions, keywords, label lists or ranges", () => {
    assert.deepEqual(
      selectorsOf(
        'histogram_quantile(0.95, sum by (workflow, le) (rate(a_seconds_bucket{workflow=~"$workflow", x!="}"}[$__rate_interval]))) / on (job) group_left b_total or vector(0)',
      ),
      [
        { metric: "a_seconds_bucket", labels: ["workflow", "x"] },
        { metric: "b_total", labels: [] },
      ],
    );
    assert.deepEqual(selectorsOf('count(count by (namespace, name) (m{state="ready"}))'), [
      { metric: "m", labels: ["state"] },
    ]);
  });
});

// ---------------------------------------------------------------- the check

let cp: ControlPlane;
let redis: RedisServer;
let backend: StoreBackend;
const workers: WorkerProcess[] = [];
let operator: ChildProcess | undefined;

before(async () => {
  [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
});

after(async () => {
  if (operator && operator.exitCode === null && operator.signalCode === null) {
    const exited = once(operator, "exit");
    operator.kill("SIGTERM");
    await exited;
  }
  await killAll(workers);
  await backend?.close();
  await redis?.stop();
  await cp?.stop();
});

async function workerMetrics(): Promise<string> {
  const def = (await loadWorkflowModule(WORKFLOW)) as WorkflowDef<unknown, unknown>;
  backend = await openRedisBackend(
    { redisUrl: redis.url, keyPrefix: "floxide", redisMode: "standalone", retentionSeconds: 3600 },
    pino({ level: "silent" }),
  );
  const orchestrator = new Orchestrator(backend.forWorkflow(def.name), def);
  const worker = await startWorkerProcess({ workflow: WORKFLOW, redisUrl: redis.url });
  workers.push(worker);
  // A retried step, a dead-lettered item, a failed run: every worker series gets samples.
  const runs = await Promise.all([0, 1, 2].map((i) => orchestrator.start({ order: `o${i}` })));
  for (const { runId } of runs) await orchestrator.wait(runId, { timeoutMs: 30_000, pollMs: 50 });
  const response = await fetch(`http://127.0.0.1:${worker.port}/metrics`);
  return response.text();
}

async function operatorMetrics(): Promise<string> {
  await installOperatorResources(cp, [], { rbac: false });
  const child = spawn(
    process.execPath,
    ["cli/main.ts", "operator", "--kubeconfig", cp.kubeconfigPath, "--leader-elect", "false"],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        FLOXIDE_OPERATOR_PORT: "0",
        FLOXIDE_OPERATOR_HOST: "127.0.0.1",
        FLOXIDE_LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  operator = child;
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const address = await waitFor(
    () => /"address":"(http:\/\/[^"]+)".*"msg":"Operator started"/.exec(output)?.[1],
    {
      timeoutMs: 60_000,
      message: `the operator to start: ${output.slice(-1000)}`,
    },
  );
  const wfd = workflowDeployment("retry-and-fail", "default", redis.url);
  const apply = execFileAsync(cp.binaries.kubectl, ["--kubeconfig", cp.kubeconfigPath, "apply", "-f", "-"]);
  apply.child.stdin?.end(JSON.stringify(wfd));
  await apply;
  // The backlog gauges appear after the first poll of the WorkflowDeployment's Redis.
  return waitFor(
    async () => {
      const text = await (await fetch(`${address}/metrics`)).text();
      return /floxide_operator_backlog_items\{[^}]*state="dead"[^}]*\} [1-9]/.test(text) &&
        /floxide_operator_reconcile_duration_seconds_count [1-9]/.test(text)
        ? text
        : undefined;
    },
    { timeoutMs: 60_000, message: "the operator's backlog metrics" },
  );
}

test("every metric and label the dashboards query is exported by a worker or the operator", async () => {
  const [worker, operatorText] = await Promise.all([workerMetrics(), operatorMetrics()]);
  const exported = new Map([...parseExposition(worker), ...parseExposition(operatorText)]);
  const files = dashboardFiles();
  assert.deepEqual(files.sort(), ["operator.json", "workers.json"]);
  const problems: string[] = [];
  let checked = 0;
  for (const query of files.flatMap(queriesOf)) {
    const selectors = selectorsOf(query.expr);
    if (selectors.length === 0)
      problems.push(`${query.dashboard} ${query.where}: no metric in ${query.expr}`);
    for (const { metric, labels } of selectors) {
      checked += 1;
      const seen = exported.get(metric);
      if (!seen) {
        problems.push(`${query.dashboard} ${query.where}: ${metric} is not exported`);
        continue;
      }
      // Labels are known from samples only: a metric without one yet (no lease was reclaimed)
      // is checked by name alone.
      for (const label of seen.size > 0 ? labels : []) {
        if (!seen.has(label) && !TARGET_LABELS.has(label)) {
          problems.push(`${query.dashboard} ${query.where}: ${metric} has no label ${label}`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
  assert.ok(checked > 40, `only ${checked} selectors checked`);
});
