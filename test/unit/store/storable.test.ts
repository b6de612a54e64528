import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_JSON_DEPTH, unstorableReason } from "../../../worker/store/index.ts";

test("a storable value has no reason, whatever its shape", () => {
  for (const value of [
    1,
    "text",
    true,
    null,
    undefined,
    [1, [2, { a: "b" }]],
    { a: { b: [null, undefined] } },
  ])
    assert.equal(unstorableReason(value), null);
  const shared = { x: 1 };
  assert.equal(unstorableReason({ a: shared, b: shared }), null, "a value met twice is not a cycle");
  assert.equal(unstorableReason({ toJSON: () => "converted" }), null);
});

test("the reason names where the value is, from the given path", () => {
  assert.equal(
    unstorableReason({ items: [1, 2, { "a b": 10n }] }, "output"),
    'output.items[2]["a b"] is a BigInt (JSON has no BigInt; convert it to a string or number)',
  );
  assert.equal(unstorableReason([() => 1]), "value[0] is a function (not JSON)");
  assert.equal(unstorableReason({ s: Symbol("x") }, "event"), "event.s is a symbol (not JSON)");
  assert.equal(
    unstorableReason({ ok: 1, ["\udc00k"]: 1 }),
    'value["\\udc00k"]: the key has a lone UTF-16 surrogate',
  );
  assert.equal(
    unstorableReason({ name: "\ud800" }, "input"),
    "input.name is a string with a lone UTF-16 surrogate (not valid Unicode)",
  );
  const circular: Record<string, unknown> = { a: {} };
  (circular.a as Record<string, unknown>).back = circular;
  assert.equal(unstorableReason(circular), "value.a.back is a circular reference");
  let deep: unknown = 1;
  for (let i = 0; i <= MAX_JSON_DEPTH; i += 1) deep = [deep];
  assert.match(
    unstorableReason(deep) ?? "",
    new RegExp(`^value(\\[0\\]){${MAX_JSON_DEPTH}} is nested deeper`),
  );
  assert.equal(
    unstorableReason({
      get bad() {
        throw new Error("no");
      },
    }),
    "value cannot be read: no",
  );
});
