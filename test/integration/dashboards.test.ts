// Every metric a Grafana dashboard of the chart queries is exported: a real worker process and
// a real operator (on a real control plane) run a small workload, their /metrics are scraped,
// every PromQL expression of the dashboards is parsed, and each metric name (histograms: the
// _bucket/_sum/_count series) and each label it filters on must be there.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { Orchestrator } from "../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import type { WorkflowDef } from "../../worker/sdk/index.ts";
import type { StoreBackend } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { startControlPlane, type ControlPlane } from "../support/control-plane.ts";
import { installOperatorResources, workflowDeployment } from "../support/operator.ts";
import { startRedis, type RedisServer } from "../support/redis.ts";
import { waitFor } from "../support/wait.ts";
import { killAll, startWorkerProcess, type WorkerProcess } from "../support/worker-process.ts";

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DASHBOARDS = join(ROOT, "helm", "floxide", "dashboards");
const WORKFLOW = "test/integration/cli/retry-and-fail.workflow.ts";
/** Labels Prometheus adds to every scraped series (the chart's monitors set namespace and pod). */
const TARGET_LABELS = new Set(["namespace", "pod", "job", "instance", "container", "workflow_deployment"]);

// ---------------------------------------------------------------- a small PromQL reader

interface Selector {
  metric: string;
  labels: string[];
}

const AGGREGATIONS = new Set([
  "sum",
  "min",
  "max",
  "avg",
  "group",
  "stddev",
  "stdvar",
  "count",
  "count_values",
  "bottomk",
  "topk",
  "quantile",
  "limitk",
  "limit_ratio",
]);
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const OPERATOR_KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "atan2"]);

/**
 * The metric selectors of a PromQL expression: names not followed by `(` (functions), not
 * keywords, not inside strings, ranges or `by (...)` lists; with the labels their `{...}` matches.
 */
function selectorsOf(expr: string): Selector[] {
  const selectors: Selector[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i]!)) i += 1;
  };
  const skipString = () => {
    const quote = expr[i]!;
    i += 1;
    while (i < expr.length && expr[i] !== quote) i += expr[i] === "\\" ? 2 : 1;
    i += 1;
  };
  const skipPast = (close: string) => {
    while (i < expr.length && expr[i] !== close) {
      if (/["'`]/.test(expr[i]!)) skipString();
      else i += 1;
    }
    i += 1;
  };
  const matcherLabels = (): string[] => {
    const labels: string[] = [];
    i += 1; // {
    while (i < expr.length && expr[i] !== "}") {
      skipSpace();
      const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(expr.slice(i))?.[0];
      if (name) {
        labels.push(name);
        i += name.length;
      }
      while (i < expr.length && expr[i] !== "," && expr[i] !== "}") {
        if (/["'`]/.test(expr[i]!)) skipString();
        else i += 1;
      }
      if (expr[i] === ",") i += 1;
    }
    i += 1; // }
    return labels;
  };
  while (i < expr.length) {
    const char = expr[i]!;
    if (/["'`]/.test(char)) skipString();
    else if (char === "[") skipPast("]");
    else if (char === "{")
      matcherLabels(); // a selector without a name: nothing to check here
    else if (char === "$") {
      i += 1;
      while (i < expr.length && /[\w{}]/.test(expr[i]!)) i += 1;
    } else if (/[0-9.]/.test(char)) {
      while (i < expr.length && /[0-9.eE]/.test(expr[i]!)) i += 1;
    } else if (/[a-zA-Z_:]/.test(char)) {
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))![0];
      i += name.length;
      skipSpace();
      if (LABEL_LIST_KEYWORDS.has(name)) {
        if (expr[i] === "(") skipPast(")");
      } else if (AGGREGATIONS.has(name) || OPERATOR_KEYWORDS.has(name) || expr[i] === "(") {
        // a function or an aggregation: its arguments are read by the loop
      } else {
        selectors.push({ metric: name, labels: expr[i] === "{" ? matcherLabels() : [] });
      }
    } else i += 1;
  }
  return selectors;
}

interface Query {
  dashboard: string;
  where: string;
  expr: string;
}

interface DashboardJson {
  panels?: { title?: string; targets?: { expr?: string }[]; panels?: DashboardJson["panels"] }[];
  templating?: { list?: { name: string; query?: string | { query?: string } }[] };
}

/** Every PromQL expression of a dashboard: panel targets and label_values(...) variables. */
function queriesOf(file: string): Query[] {
  const dashboard = JSON.parse(readFileSync(join(DASHBOARDS, file), "utf8")) as DashboardJson;
  const queries: Query[] = [];
  const walk = (panels: DashboardJson["panels"]) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        if (target.expr)
          queries.push({ dashboard: file, where: `panel "${panel.title}"`, expr: target.expr });
      }
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query;
    const labelValues = query && /^label_values\((.*),\s*([a-zA-Z_]\w*)\)\s*$/.exec(query);
    if (labelValues) {
      const [, expr, label] = labelValues as unknown as [string, string, string];
      queries.push({ dashboard: file, where: `variable $${variable.name}`, expr: `${expr}{${label}=""}` });
    }
  }
  return queries;
}

// ---------------------------------------------------------------- what the processes export

/** Metric name -> label names seen on its samples (an exported metric may have no sample yet). */
function parseExposition(text: string): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  const add = (name: string) => metrics.get(name) ?? metrics.set(name, new Set()).get(name)!;
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      add(name);
      if (kind === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) add(`${name}${suffix}`);
      if (kind === "summary") for (const suffix of ["_sum", "_count"]) add(`${name}${suffix}`);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (!sample) continue;
    const labels = add(sample[1]!);
    for (const match of (sample[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(match[1]!);
  }
  return metrics;
}

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
  const files = readdirSync(DASHBOARDS).filter((file) => file.endsWith(".json"));
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
