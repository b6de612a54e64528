// What the chart's Grafana dashboards query: a small PromQL reader for their expressions, and a
// reader of the Prometheus text exposition, so tests can check every queried metric is exported
// (test/integration/dashboards.test.ts with processes here, test/e2e with pods).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DASHBOARDS = fileURLToPath(new URL("../../helm/floxide/dashboards/", import.meta.url));

/** Every dashboard file of the chart. */
export const dashboardFiles = (): string[] =>
  readdirSync(DASHBOARDS).filter((file) => file.endsWith(".json"));

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
export function selectorsOf(expr: string): Selector[] {
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

export interface Query {
  dashboard: string;
  where: string;
  expr: string;
}

interface DashboardJson {
  panels?: { title?: string; targets?: { expr?: string }[]; panels?: DashboardJson["panels"] }[];
  templating?: { list?: { name: string; query?: string | { query?: string } }[] };
}

/** Every PromQL expression of a dashboard: panel targets and label_values(...) variables. */
export function queriesOf(file: string): Query[] {
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
export function parseExposition(text: string): Map<string, Set<string>> {
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
