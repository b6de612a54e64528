import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  FloxideError,
  join,
  next,
  nextAll,
  node,
  tagged,
  workflow,
  type Transition,
} from "../../../worker/sdk/index.ts";
import { routeTransition, type ItemFactory } from "../../../worker/engine/index.ts";
import type { FanFrame, WorkItem } from "../../../worker/store/index.ts";

const pass = (name: string, tags?: string[]) => node(name, (_c, i: unknown) => next(i), tags ? { tags } : {});
const gather = join("gather", (_c, inputs: unknown[]) => next(inputs));

const def = workflow({
  name: "routes",
  version: "1",
  start: "start",
  nodes: [
    pass("start"),
    pass("fork"),
    pass("left"),
    pass("right"),
    pass("router", ["a", "b", "end"]),
    pass("fan"),
    gather,
    pass("done"),
  ],
  edges: {
    start: ["fork"],
    fork: ["left", "right"],
    left: ["router"],
    right: ["fan"],
    router: { routes: { a: ["left"], b: ["right", "done"], end: [] } },
    fan: ["gather"],
    gather: ["done"],
  },
});

let ids = 0;
const makeItem: ItemFactory = (
  node: string,
  input: unknown,
  frames: readonly FanFrame[],
  id?: string,
): WorkItem => ({
  id: id ?? `id-${(ids += 1)}`,
  runId: "run",
  workflow: "routes",
  version: "1",
  node,
  input,
  attempt: 1,
  maxAttempts: 3,
  frames,
  enqueuedAt: 0,
});

const at = (node: string, frames: FanFrame[] = []): WorkItem => makeItem(node, null, frames, `item-${node}`);
const route = (item: WorkItem, transition: Transition) =>
  routeTransition(
    def as never,
    item,
    transition as Extract<Transition, { kind: "next" | "nextAll" }>,
    makeItem,
  );

describe("routing a transition (pure)", () => {
  test("next on a direct edge sends the output to every successor", () => {
    const routed = route(at("fork"), next(5));
    assert.deepEqual(
      routed.followUps.map((i) => [i.node, i.input, i.frames]),
      [
        ["left", 5, []],
        ["right", 5, []],
      ],
    );
    assert.deepEqual(routed.outputs, []);
  });

  test("nextAll on a direct edge makes one item per output per successor, each with a fan-out frame", () => {
    const routed = route(at("fork"), nextAll(["x", "y"]));
    assert.deepEqual(
      routed.followUps.map((i) => [i.node, i.input, i.frames]),
      [
        ["left", "x", [{ id: "item-fork:left", index: 0, count: 2 }]],
        ["left", "y", [{ id: "item-fork:left", index: 1, count: 2 }]],
        ["right", "x", [{ id: "item-fork:right", index: 0, count: 2 }]],
        ["right", "y", [{ id: "item-fork:right", index: 1, count: 2 }]],
      ],
    );
  });

  test("next on a routed edge goes only to the tag's successors, unwrapped", () => {
    const routed = route(at("router"), next(tagged("b", { v: 1 })));
    assert.deepEqual(
      routed.followUps.map((i) => [i.node, i.input]),
      [
        ["right", { v: 1 }],
        ["done", { v: 1 }],
      ],
    );
  });

  test("a tag routed to no successor is a terminal output", () => {
    const routed = route(at("router"), next(tagged("end", 42)));
    assert.deepEqual(routed.followUps, []);
    assert.deepEqual(routed.outputs, [{ node: "router", itemId: "item-router", value: 42 }]);
  });

  test("nextAll on a routed edge counts frames per successor", () => {
    const routed = route(at("router"), nextAll([tagged("a", 1), tagged("b", 2), tagged("a", 3)]));
    assert.deepEqual(
      routed.followUps.map((i) => [i.node, i.input, i.frames[0]?.index, i.frames[0]?.count]),
      [
        ["left", 1, 0, 2],
        ["left", 3, 1, 2],
        ["right", 2, 0, 1],
        ["done", 2, 0, 1],
      ],
    );
  });

  test("a tag with no route fails with UnknownRoute naming the node and tag", () => {
    assert.throws(
      () => route(at("router"), next(tagged("zzz", 1))),
      (error: unknown) => {
        assert.ok(error instanceof FloxideError);
        assert.equal(error.code, "UnknownRoute");
        assert.match(error.message, /node 'router' returned tag 'zzz', which has no route/);
        return true;
      },
    );
    assert.throws(() => route(at("router"), next("untagged")), /returned an untagged output/);
  });

  test("a terminal node's next and nextAll are run outputs", () => {
    assert.deepEqual(route(at("done"), next("fin")).outputs, [
      { node: "done", itemId: "item-done", value: "fin" },
    ]);
    assert.deepEqual(
      route(at("done"), nextAll([1, 2])).outputs.map((o) => o.value),
      [1, 2],
    );
  });

  test("arriving at a join pops the innermost frame and names the join item after it", () => {
    const outer: FanFrame = { id: "outer", index: 3, count: 4 };
    const inner: FanFrame = { id: "f", index: 1, count: 2 };
    const routed = route(at("fan", [outer, inner]), next("part"));
    assert.equal(routed.followUps.length, 0);
    assert.equal(routed.arrivals.length, 1);
    const arrival = routed.arrivals[0];
    assert.deepEqual(arrival?.frame, inner);
    assert.equal(arrival?.value, "part");
    assert.equal(arrival?.joinItem.id, "f>gather");
    assert.equal(arrival?.joinItem.node, "gather");
    assert.deepEqual(arrival?.joinItem.frames, [outer]);
  });

  test("a join reached without any fan-out is a clear run failure", () => {
    assert.throws(() => route(at("fan"), next(1)), /join 'gather' was reached from 'fan' without a fan-out/);
  });

  test("an empty nextAll straight into a join fires the join with no inputs", () => {
    const routed = route(at("fan"), nextAll([]));
    assert.deepEqual(
      routed.followUps.map((i) => [i.node, i.input]),
      [["gather", []]],
    );
  });
});
