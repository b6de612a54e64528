// A run's graph as SVG: nodes in layers from the start node (breadth first), each box coloured
// by its state, with its item counts, time spent and leases. Every label is a text node.
import { html } from "./html.js";
import { fmtDuration } from "./format.js";

const W = 200;
const H = 58;
const GAP_X = 60;
const GAP_Y = 26;

function layers(names, edges, start) {
  const level = new Map();
  if (start !== null && names.includes(start)) {
    level.set(start, 0);
    const queue = [start];
    while (queue.length > 0) {
      const from = queue.shift();
      for (const edge of edges) {
        if (edge.from === from && !level.has(edge.to)) {
          level.set(edge.to, level.get(from) + 1);
          queue.push(edge.to);
        }
      }
    }
  }
  let next = Math.max(-1, ...level.values()) + 1;
  for (const name of names) if (!level.has(name)) level.set(name, edges.length === 0 ? next++ : next);
  return level;
}

function subtitle(view) {
  const counts = Object.entries(view.counts)
    .map(([status, n]) => `${n} ${status}`)
    .join(", ");
  return `${counts || "not reached"} · ${fmtDuration(view.durationMs)}`;
}

function detailLine(view, now) {
  if (view.leases.length > 0) {
    const lease = view.leases[0];
    return `on ${lease.workerId}, lease ${fmtDuration(lease.ageMs)}`;
  }
  if (view.retryDue !== null) return `retry in ${fmtDuration(Math.max(0, view.retryDue - now))}`;
  if (view.lastError !== null) return view.lastError;
  return "";
}

const clip = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

export function RunGraph({ nodes, graph, now }) {
  const names = nodes.map((view) => view.node);
  const edges =
    graph === null ? [] : graph.edges.filter((e) => names.includes(e.from) && names.includes(e.to));
  const level = layers(names, edges, graph === null ? null : graph.start);
  const rows = new Map();
  const position = new Map();
  for (const name of names) {
    const l = level.get(name);
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    position.set(name, { x: 10 + l * (W + GAP_X), y: 10 + row * (H + GAP_Y) });
  }
  const width = 20 + (Math.max(0, ...level.values()) + 1) * (W + GAP_X);
  const height = 20 + Math.max(1, ...rows.values()) * (H + GAP_Y);
  return html`<svg class="graph" width=${width} height=${height} viewBox="0 0 ${width} ${height}" role="img">
    <defs>
      <marker
        id="arrow"
        viewBox="0 0 10 10"
        refX="10"
        refY="5"
        markerWidth="7"
        markerHeight="7"
        orient="auto"
      >
        <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
      </marker>
    </defs>
    ${edges.map((edge) => {
      const a = position.get(edge.from);
      const b = position.get(edge.to);
      return html`<line
        class=${edge.onFailure ? "edge failure" : "edge"}
        x1=${a.x + W}
        y1=${a.y + H / 2}
        x2=${b.x}
        y2=${b.y + H / 2}
        marker-end="url(#arrow)"
      />`;
    })}
    ${nodes.map((view) => {
      const p = position.get(view.node);
      return html`<g
        class="node state-${view.state}"
        data-node=${view.node}
        data-state=${view.state}
        transform="translate(${p.x},${p.y})"
      >
        <title>${view.node}: ${view.state}</title>
        <rect width=${W} height=${H} rx="6" />
        <text x="8" y="17" class="name">${clip(view.node, 22)}</text>
        <text x="8" y="33" class="sub">${clip(subtitle(view), 30)}</text>
        <text x="8" y="49" class="sub">${clip(detailLine(view, now), 30)}</text>
      </g>`;
    })}
  </svg>`;
}

export function Sparkline({ history }) {
  const w = 160;
  const h = 32;
  if (history.length < 2) return html`<svg class="spark" width=${w} height=${h}></svg>`;
  const values = history.map((s) => s.ready + s.inFlight + s.delayed);
  const max = Math.max(1, ...values);
  const t0 = history[0].at;
  const span = Math.max(1, history[history.length - 1].at - t0);
  const points = history.map(
    (s, i) => `${((s.at - t0) / span) * (w - 2) + 1},${h - 1 - (values[i] / max) * (h - 2)}`,
  );
  return html`<svg class="spark" width=${w} height=${h} data-points=${history.length}>
    <polyline points=${points.join(" ")} />
  </svg>`;
}
