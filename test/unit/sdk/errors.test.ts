import assert from "node:assert/strict";
import { test } from "node:test";
import { errorStack, STACK_MAX_CHARS, STACK_MAX_LINES } from "../../../worker/sdk/index.ts";

test("a thrown Error's stack is kept with where it was thrown", () => {
  const stack = errorStack(new Error("boom"));
  assert.match(stack ?? "", /^Error: boom\n\s+at .*errors\.test\.ts/);
});

test("a deep stack is cut to its first lines, a long one to its first characters", () => {
  const deep = new Error("deep");
  deep.stack = ["Error: deep", ...Array.from({ length: 60 }, (_, i) => `    at f${i} (x.ts:${i}:1)`)].join(
    "\n",
  );
  const cut = errorStack(deep) ?? "";
  assert.equal(cut.split("\n").length, STACK_MAX_LINES + 1, "the kept lines and a marker");
  assert.match(cut, /at f18 \(x\.ts:18:1\)\n {4}…$/);
  const long = new Error("x".repeat(3 * STACK_MAX_CHARS));
  const kept = errorStack(long) ?? "";
  assert.equal(kept.length, STACK_MAX_CHARS);
  assert.ok(kept.startsWith("Error: xxx") && kept.endsWith("…"));
});

test("no stack for what is not an Error, nor for an Error whose stack cannot be read", () => {
  assert.equal(errorStack("a string"), undefined);
  assert.equal(errorStack({ message: "m", stack: "at secret (x.ts:1:1)" }), undefined);
  assert.equal(errorStack(null), undefined);
  const getterThrows = new Error("m");
  Object.defineProperty(getterThrows, "stack", {
    get() {
      throw new Error("no");
    },
  });
  assert.equal(errorStack(getterThrows), undefined);
  const notString = new Error("m");
  (notString as { stack: unknown }).stack = 42;
  assert.equal(errorStack(notString), undefined);
  const trapped = new Proxy(
    {},
    {
      getPrototypeOf() {
        throw new Error("trap");
      },
    },
  );
  assert.equal(errorStack(trapped), undefined);
});
