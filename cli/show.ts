import type { ErrorRecord, EventRecord, ItemState, RunInfo } from "../worker/store/index.ts";

export interface RunReport {
  readonly run: RunInfo;
  readonly nodes: readonly NodeRow[];
  readonly items: readonly ItemState[];
  readonly errors: readonly ErrorRecord[];
  readonly events: readonly EventRecord[];
}

export interface NodeRow {
  readonly node: string;
  readonly items: number;
  readonly attempts: number;
  readonly completed: number;
  readonly failed: number;
  readonly durationMs: number;
}

/** Per-node totals over the run's items: how many, how many attempts, how long. */
export function nodeRows(items: readonly ItemState[]): NodeRow[] {
  const rows = new Map<
    string,
    { items: number; attempts: number; completed: number; failed: number; durationMs: number }
  >();
  for (const item of items) {
    const row = rows.get(item.node) ?? { items: 0, attempts: 0, completed: 0, failed: 0, durationMs: 0 };
    row.items += 1;
    row.attempts += item.attempt;
    if (item.status === "completed") row.completed += 1;
    if (item.status === "failed" || item.status === "dead") row.failed += 1;
    row.durationMs += item.durationMs;
    rows.set(item.node, row);
  }
  return [...rows.entries()].map(([node, row]) => ({ node, ...row }));
}

const iso = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString());

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The human form of `floxide run show`. */
export function renderRunReport(report: RunReport): string {
  const { run } = report;
  const took =
    run.startedAt !== null && run.finishedAt !== null ? ` (${run.finishedAt - run.startedAt} ms)` : "";
  const out = [
    `run ${run.runId}  ${run.status}`,
    `workflow  ${run.workflow}@${run.version}`,
    `version   ${run.version} (pinned: only workers of this version run its items)`,
    `created   ${iso(run.createdAt)}`,
    `started   ${iso(run.startedAt)}`,
    `finished  ${iso(run.finishedAt)}${took}`,
    "",
    "nodes:",
    ...table(
      ["node", "items", "attempts", "completed", "failed", "time ms"],
      report.nodes.map((r) => [
        r.node,
        String(r.items),
        String(r.attempts),
        String(r.completed),
        String(r.failed),
        r.durationMs.toFixed(1),
      ]),
    ).map((l) => `  ${l}`),
  ];
  out.push("", report.errors.length === 0 ? "errors: none" : "errors:");
  for (const e of report.errors) {
    out.push(
      `  ${iso(e.at)}  ${e.node}  attempt ${e.attempt}  ${e.action}  ${e.error.code}: ${e.error.message}`,
    );
  }
  if (run.error !== null)
    out.push(
      `run error: ${run.error.code}: ${run.error.message}${run.error.node ? ` (node ${run.error.node})` : ""}`,
    );
  out.push("", run.outputs.length === 0 ? "output: none" : "output:");
  for (const o of run.outputs) out.push(`  ${o.node}: ${JSON.stringify(o.value)}`);
  out.push("", `events (${report.events.length}):`);
  for (const e of report.events) out.push(`  #${e.seq}  ${e.node}  ${JSON.stringify(e.event)}`);
  return out.join("\n");
}
