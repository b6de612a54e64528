import { FloxideError } from "./errors.ts";
import { eventListContext, type ContextSpec } from "./context.ts";
import type { NodeDef, RetryOptions } from "./node.ts";

/** Direct successors, or `{ routes }` by tag, each optionally with `onFailure` fallbacks. */
export type EdgeSpec =
  | readonly string[]
  | {
      readonly to?: readonly string[];
      readonly routes?: Readonly<Record<string, readonly string[]>>;
      readonly onFailure?: readonly string[];
    };

export interface WorkflowSpec<S, E> {
  name: string;
  version: string;
  start: string;
  // Node handlers are contravariant in their input, so the list is typed loosely here and
  // each node keeps its own precise type where it is written.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  nodes: readonly NodeDef<any, any, S, E>[];
  edges?: Readonly<Record<string, EdgeSpec>>;
  context?: ContextSpec<S, E>;
  /** Defaults for every node; a node's own options win. */
  retry?: RetryOptions;
  timeoutMs?: number;
  /** Largest serialised input, output or event a step may produce (default 1 MiB). */
  maxPayloadBytes?: number;
}

export interface Edges {
  readonly to: readonly string[];
  readonly routes: ReadonlyMap<string, readonly string[]> | null;
  readonly onFailure: readonly string[];
}

export interface WorkflowDef<S = unknown, E = unknown> {
  readonly name: string;
  readonly version: string;
  readonly start: string;
  readonly nodes: ReadonlyMap<string, NodeDef<unknown, unknown, S, E>>;
  readonly edges: ReadonlyMap<string, Edges>;
  readonly context: ContextSpec<S, E>;
  readonly retry: RetryOptions;
  readonly timeoutMs: number | undefined;
  readonly maxPayloadBytes: number;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

export const WORKFLOW_NAME = /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/;
const NODE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const NO_EDGES: Edges = { to: [], routes: null, onFailure: [] };

function invalid(message: string, details: Record<string, unknown>): never {
  throw new FloxideError("InvalidWorkflow", message, details);
}

function normaliseEdge(from: string, spec: EdgeSpec): Edges {
  if (Array.isArray(spec)) return { to: [...(spec as readonly string[])], routes: null, onFailure: [] };
  const object = spec as Exclude<EdgeSpec, readonly string[]>;
  if (object.to !== undefined && object.routes !== undefined) {
    invalid(`node '${from}' has both direct successors and routes; use one`, { node: from });
  }
  return {
    to: [...(object.to ?? [])],
    routes:
      object.routes === undefined
        ? null
        : new Map(Object.entries(object.routes).map(([t, s]) => [t, [...s]])),
    onFailure: [...(object.onFailure ?? [])],
  };
}

export function successorsOf(edges: Edges): string[] {
  const all = [...edges.to, ...edges.onFailure];
  if (edges.routes !== null) for (const targets of edges.routes.values()) all.push(...targets);
  return all;
}

/** Defines a workflow and checks its graph; every error names the node at fault. */
export function workflow<S = unknown, E = unknown>(spec: WorkflowSpec<S, E>): WorkflowDef<S, E> {
  if (typeof spec.name !== "string" || !WORKFLOW_NAME.test(spec.name)) {
    invalid(
      `workflow name '${String(spec.name)}' must be 1-63 of [a-z0-9-_.], starting and ending alphanumeric`,
      {
        workflow: spec.name,
      },
    );
  }
  const where = { workflow: spec.name };
  if (typeof spec.version !== "string" || spec.version.length === 0) {
    invalid(`workflow '${spec.name}' needs a non-empty version`, where);
  }
  if (
    spec.maxPayloadBytes !== undefined &&
    !(Number.isInteger(spec.maxPayloadBytes) && spec.maxPayloadBytes > 0)
  ) {
    invalid(`workflow '${spec.name}': maxPayloadBytes must be a positive integer`, where);
  }
  const nodes = new Map<string, NodeDef<unknown, unknown, S, E>>();
  for (const def of spec.nodes) {
    if (!NODE_NAME.test(def.name)) {
      invalid(`node name '${def.name}' must match ${NODE_NAME.source}`, { ...where, node: def.name });
    }
    if (nodes.has(def.name)) invalid(`duplicate node name '${def.name}'`, { ...where, node: def.name });
    nodes.set(def.name, def as NodeDef<unknown, unknown, S, E>);
  }
  if (typeof spec.start !== "string" || spec.start.length === 0) invalid("missing start node", where);
  const startNode = nodes.get(spec.start);
  if (startNode === undefined)
    invalid(`start node '${spec.start}' is not among the nodes`, { ...where, node: spec.start });
  if (startNode.kind === "join")
    invalid(`start node '${spec.start}' cannot be a join`, { ...where, node: spec.start });

  const edges = new Map<string, Edges>();
  for (const [from, edgeSpec] of Object.entries(spec.edges ?? {})) {
    if (!nodes.has(from)) invalid(`edges name unknown node '${from}'`, { ...where, node: from });
    const normalised = normaliseEdge(from, edgeSpec);
    for (const target of successorsOf(normalised)) {
      if (!nodes.has(target)) {
        invalid(`node '${from}' has an edge to unknown node '${target}'`, { ...where, node: from, target });
      }
    }
    edges.set(from, normalised);
  }
  for (const def of nodes.values()) {
    const declared = def.options.tags;
    const edge = edges.get(def.name) ?? NO_EDGES;
    if (declared === undefined) continue;
    if (edge.routes === null) {
      invalid(`node '${def.name}' declares tags but its edge has no routes`, { ...where, node: def.name });
    }
    for (const tag of declared) {
      if (!edge.routes.has(tag))
        invalid(`node '${def.name}' has no route for tag '${tag}'`, { ...where, node: def.name, tag });
    }
    for (const tag of edge.routes.keys()) {
      if (!declared.includes(tag)) {
        invalid(`node '${def.name}' routes tag '${tag}' that it does not declare`, {
          ...where,
          node: def.name,
          tag,
        });
      }
    }
  }

  const reached = new Set<string>([spec.start]);
  const frontier = [spec.start];
  while (frontier.length > 0) {
    const current = frontier.pop() as string;
    for (const target of successorsOf(edges.get(current) ?? NO_EDGES)) {
      if (!reached.has(target)) {
        reached.add(target);
        frontier.push(target);
      }
    }
  }
  const unreachable = [...nodes.keys()].filter((name) => !reached.has(name));
  if (unreachable.length > 0) {
    invalid(`node '${unreachable[0]}' is unreachable from start '${spec.start}'`, {
      ...where,
      nodes: unreachable,
    });
  }

  return {
    name: spec.name,
    version: spec.version,
    start: spec.start,
    nodes,
    edges,
    context: spec.context ?? (eventListContext<E>() as unknown as ContextSpec<S, E>),
    retry: spec.retry ?? {},
    timeoutMs: spec.timeoutMs,
    maxPayloadBytes: spec.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
  };
}

export function edgesOf(def: WorkflowDef<unknown, unknown>, node: string): Edges {
  return def.edges.get(node) ?? NO_EDGES;
}

/** Forgets a workflow's state and event types, for the engine, which treats them as opaque. */
export function eraseTypes<S, E>(def: WorkflowDef<S, E>): WorkflowDef<unknown, unknown> {
  return def as unknown as WorkflowDef<unknown, unknown>;
}
