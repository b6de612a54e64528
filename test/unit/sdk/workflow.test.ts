import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloxideError, join, next, node, toDot, toMermaid, workflow } from "../../../worker/sdk/index.ts";

const pass = (name: string) => node(name, (_ctx, input: unknown) => next(input));

function definitionError(build: () => unknown): FloxideError {
  try {
    build();
  } catch (error) {
    assert.ok(error instanceof FloxideError, `expected a FloxideError, got ${String(error)}`);
    assert.equal(error.code, "InvalidWorkflow");
    return error;
  }
  assert.fail("expected workflow() to throw");
}

describe("workflow() validates the graph at definition", () => {
  test("an edge to an unknown node names both nodes", () => {
    const error = definitionError(() =>
      workflow({ name: "w", version: "1", start: "a", nodes: [pass("a")], edges: { a: ["ghost"] } }),
    );
    assert.match(error.message, /node 'a' has an edge to unknown node 'ghost'/);
  });

  test("an unreachable node is named", () => {
    const error = definitionError(() =>
      workflow({ name: "w", version: "1", start: "a", nodes: [pass("a"), pass("island")] }),
    );
    assert.match(error.message, /node 'island' is unreachable from start 'a'/);
  });

  test("a missing start, or a start that is not a node, is refused", () => {
    assert.match(
      definitionError(() => workflow({ name: "w", version: "1", start: "", nodes: [pass("a")] })).message,
      /missing start/,
    );
    assert.match(
      definitionError(() => workflow({ name: "w", version: "1", start: "b", nodes: [pass("a")] })).message,
      /start node 'b' is not among the nodes/,
    );
  });

  test("duplicate node names are refused", () => {
    const error = definitionError(() =>
      workflow({ name: "w", version: "1", start: "a", nodes: [pass("a"), pass("a")] }),
    );
    assert.match(error.message, /duplicate node name 'a'/);
  });

  test("edges from an unknown node, bad names and empty versions are refused", () => {
    assert.match(
      definitionError(() =>
        workflow({ name: "w", version: "1", start: "a", nodes: [pass("a")], edges: { zz: ["a"] } }),
      ).message,
      /unknown node 'zz'/,
    );
    assert.match(
      definitionError(() => workflow({ name: "Bad Name", version: "1", start: "a", nodes: [pass("a")] }))
        .message,
      /workflow name/,
    );
    assert.match(
      definitionError(() => workflow({ name: "w", version: "", start: "a", nodes: [pass("a")] })).message,
      /version/,
    );
    assert.match(
      definitionError(() => workflow({ name: "w", version: "1", start: "a b", nodes: [pass("a b")] }))
        .message,
      /node name/,
    );
  });

  test("routed edges must cover exactly the tags a node declares", () => {
    const router = node("r", (_ctx, input: unknown) => next(input), { tags: ["yes", "no"] });
    assert.match(
      definitionError(() =>
        workflow({
          name: "w",
          version: "1",
          start: "r",
          nodes: [router, pass("y")],
          edges: { r: { routes: { yes: ["y"] } } },
        }),
      ).message,
      /node 'r' has no route for tag 'no'/,
    );
    assert.match(
      definitionError(() =>
        workflow({
          name: "w",
          version: "1",
          start: "r",
          nodes: [router, pass("y")],
          edges: { r: { routes: { yes: ["y"], no: ["y"], maybe: ["y"] } } },
        }),
      ).message,
      /routes tag 'maybe' that it does not declare/,
    );
    assert.match(
      definitionError(() =>
        workflow({ name: "w", version: "1", start: "r", nodes: [router, pass("y")], edges: { r: ["y"] } }),
      ).message,
      /declares tags but its edge has no routes/,
    );
  });

  test("a join cannot be the start node", () => {
    const j = join("j", (_ctx, inputs: unknown[]) => next(inputs));
    assert.match(
      definitionError(() => workflow({ name: "w", version: "1", start: "j", nodes: [j] })).message,
      /cannot be a join/,
    );
  });

  test("onFailure targets count as reachable", () => {
    const def = workflow({
      name: "w",
      version: "1",
      start: "a",
      nodes: [pass("a"), pass("undo")],
      edges: { a: { onFailure: ["undo"] } },
    });
    assert.deepEqual(def.edges.get("a")?.onFailure, ["undo"]);
  });
});

describe("graph export", () => {
  const def = workflow({
    name: "shop",
    version: "1",
    start: "check",
    nodes: [
      node("check", (_c, i: unknown) => next(i), { tags: ["ok", "bad"] }),
      pass("split"),
      pass("work"),
      join("gather", (_c, i: unknown[]) => next(i)),
      pass("refund"),
    ],
    edges: {
      check: { routes: { ok: ["split"], bad: ["refund"] } },
      split: { to: ["work"], onFailure: ["refund"] },
      work: ["gather"],
    },
  });

  test("Mermaid shows every node and edge, labels routes and dots failure edges", () => {
    const mermaid = toMermaid(def);
    assert.match(mermaid, /^flowchart TD/);
    assert.match(mermaid, /check \[?-->\|ok\| split/);
    assert.match(mermaid, /check -->\|bad\| refund/);
    assert.match(mermaid, /split -\.->\|onFailure\| refund/);
    assert.match(mermaid, /gather\(\(gather\)\)/);
    assert.match(mermaid, /work --> gather/);
  });

  test("DOT is a digraph with the same edges", () => {
    const dot = toDot(def);
    assert.match(dot, /^digraph "shop" \{/);
    assert.match(dot, /"check" -> "split" \[label="ok"\];/);
    assert.match(dot, /"split" -> "refund" \[label="onFailure", style=dashed\];/);
    assert.match(dot, /"gather" \[shape=circle\];/);
    assert.equal(dot.trim().endsWith("}"), true);
  });
});
