import { edgesOf, type WorkflowDef } from "./workflow.ts";

interface Arrow {
  from: string;
  to: string;
  label: string | null;
  failure: boolean;
}

function arrows(def: WorkflowDef<unknown, unknown>): Arrow[] {
  const list: Arrow[] = [];
  for (const from of def.nodes.keys()) {
    const edges = edgesOf(def, from);
    for (const to of edges.to) list.push({ from, to, label: null, failure: false });
    if (edges.routes !== null) {
      for (const [tag, targets] of edges.routes)
        for (const to of targets) list.push({ from, to, label: tag, failure: false });
    }
    for (const to of edges.onFailure) list.push({ from, to, label: "onFailure", failure: true });
  }
  return list;
}

/** The graph as data (`floxide graph --json`): nodes with their kind, edges with route tags. */
export function graphOf(def: WorkflowDef<unknown, unknown>) {
  return {
    workflow: def.name,
    version: def.version,
    start: def.start,
    nodes: [...def.nodes.values()].map((node) => ({ name: node.name, kind: node.kind })),
    edges: arrows(def).map(({ from, to, label, failure }) => ({
      from,
      to,
      tag: failure ? null : label,
      onFailure: failure,
    })),
  };
}

/** The graph as a Mermaid flowchart: joins are drawn as circles, failure edges dotted. */
export function toMermaid(def: WorkflowDef<unknown, unknown>): string {
  const lines = ["flowchart TD"];
  for (const node of def.nodes.values()) {
    const shape =
      node.kind === "join"
        ? `((${node.name}))`
        : node.name === def.start
          ? `([${node.name}])`
          : `[${node.name}]`;
    lines.push(`  ${node.name}${shape}`);
  }
  for (const a of arrows(def)) {
    const arrow = a.failure ? "-.->" : "-->";
    lines.push(
      a.label === null ? `  ${a.from} ${arrow} ${a.to}` : `  ${a.from} ${arrow}|${a.label}| ${a.to}`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The graph in Graphviz DOT. */
export function toDot(def: WorkflowDef<unknown, unknown>): string {
  const lines = [`digraph "${def.name}" {`, "  rankdir=TB;"];
  for (const node of def.nodes.values()) {
    const shape = node.kind === "join" ? "circle" : node.name === def.start ? "oval" : "box";
    lines.push(`  "${node.name}" [shape=${shape}];`);
  }
  for (const a of arrows(def)) {
    const attrs = [a.label === null ? null : `label="${a.label}"`, a.failure ? "style=dashed" : null].filter(
      Boolean,
    );
    lines.push(`  "${a.from}" -> "${a.to}"${attrs.length > 0 ? ` [${attrs.join(", ")}]` : ""};`);
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}
