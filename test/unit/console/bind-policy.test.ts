import assert from "node:assert/strict";
import { test } from "node:test";
import { bindProblem, isLoopback } from "../../../console/server/bind-policy.ts";

test("loopback addresses are recognised, and nothing else is", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"])
    assert.equal(isLoopback(host), true, host);
  for (const host of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "example.com", "128.0.0.1", "", "::2"])
    assert.equal(isLoopback(host), false, host);
});

test("the console refuses to listen beyond loopback without a token, and with a short one", () => {
  assert.equal(bindProblem("127.0.0.1", undefined), null);
  assert.equal(bindProblem("::1", ""), null);
  assert.match(
    bindProblem("0.0.0.0", undefined) ?? "",
    /without an auth token.*--auth-token.*FLOXIDE_UI_AUTH_TOKEN/s,
  );
  assert.match(bindProblem("10.1.2.3", "") ?? "", /--auth-token/);
  assert.match(bindProblem("0.0.0.0", "short") ?? "", /at least 16 characters/);
  assert.equal(bindProblem("0.0.0.0", "a-token-that-is-long-enough"), null);
});
