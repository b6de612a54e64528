import { edgesOf, FloxideError, isTagged, type Transition, type WorkflowDef } from "../sdk/index.ts";
import type { FanFrame, JoinArrival, RunOutput, WorkItem } from "../store/index.ts";

export interface Routed {
  followUps: WorkItem[];
  arrivals: JoinArrival[];
  outputs: RunOutput[];
}

export interface ItemFactory {
  (node: string, input: unknown, frames: readonly FanFrame[], id?: string): WorkItem;
}

/**
 * Turns a node's `next` / `nextAll` into follow-up items, join arrivals and terminal outputs.
 * Pure: the caller commits the result. Throws UnknownRoute for a tag with no route.
 */
export function routeTransition(
  def: WorkflowDef<unknown, unknown>,
  item: WorkItem,
  transition: Extract<Transition, { kind: "next" | "nextAll" }>,
  makeItem: ItemFactory,
): Routed {
  const edges = edgesOf(def, item.node);
  const values = transition.kind === "next" ? [transition.output] : [...transition.outputs];
  const fanOut = transition.kind === "nextAll";
  const routed: Routed = { followUps: [], arrivals: [], outputs: [] };

  // Group the values per successor first: a fan-out frame counts the values sent to one successor.
  const perTarget = new Map<string, unknown[]>();
  const targetsOf = (value: unknown): { targets: readonly string[]; payload: unknown } => {
    if (edges.routes === null) return { targets: edges.to, payload: value };
    if (!isTagged(value)) {
      throw new FloxideError(
        "UnknownRoute",
        `node '${item.node}' has routed edges but returned an untagged output`,
        {
          node: item.node,
        },
      );
    }
    const targets = edges.routes.get(value.tag);
    if (targets === undefined) {
      throw new FloxideError(
        "UnknownRoute",
        `node '${item.node}' returned tag '${value.tag}', which has no route (routes: ${[...edges.routes.keys()].join(", ")})`,
        { node: item.node, tag: value.tag },
      );
    }
    return { targets, payload: value.value };
  };
  for (const value of values) {
    const { targets, payload } = targetsOf(value);
    if (targets.length === 0) routed.outputs.push({ node: item.node, itemId: item.id, value: payload });
    for (const target of targets) {
      const list = perTarget.get(target) ?? [];
      list.push(payload);
      perTarget.set(target, list);
    }
  }
  if (fanOut && values.length === 0) {
    // An empty fan-out still completes a join placed directly after it, with no inputs.
    const direct = edges.routes === null ? edges.to : [];
    for (const target of direct) {
      if (def.nodes.get(target)?.kind === "join") routed.followUps.push(makeItem(target, [], item.frames));
      else {
        // Nothing would run and nothing would say why: the run would complete with no output.
        throw new FloxideError(
          "InvalidOutput",
          `node '${item.node}' returned an empty fan-out (nextAll([])) into '${target}', which is not a join; only a join can take no inputs`,
          { node: item.node, target },
        );
      }
    }
  }

  for (const [target, payloads] of perTarget) {
    const isJoin = def.nodes.get(target)?.kind === "join";
    payloads.forEach((payload, index) => {
      const frames = fanOut
        ? [...item.frames, { id: `${item.id}:${target}`, index, count: payloads.length }]
        : item.frames;
      if (!isJoin) {
        routed.followUps.push(makeItem(target, payload, frames));
        return;
      }
      const frame = frames[frames.length - 1];
      if (frame === undefined) {
        throw new FloxideError(
          "UnknownRoute",
          `join '${target}' was reached from '${item.node}' without a fan-out (nextAll) before it`,
          { node: item.node, join: target },
        );
      }
      const joinItem = makeItem(target, null, frames.slice(0, -1), `${frame.id}>${target}`);
      routed.arrivals.push({ frame, value: payload, joinItem });
    });
  }
  return routed;
}
