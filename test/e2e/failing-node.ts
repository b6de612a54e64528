// Run by e2e.test.ts with `node --test` (not a *.test.ts: npm test does not pick it up): a test
// file that starts the test node in before(), runs a pod, and fails on purpose. Its after()
// must still take the node down: the parent checks the exit code and that nothing is left.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { pauseImage } from "../support/base-images.ts";
import { startTestNode, type TestNode } from "../support/node.ts";

let node: TestNode;
before(async () => (node = await startTestNode({ sandboxImage: await pauseImage() })), { timeout: 150_000 });
after(() => node?.stop(), { timeout: 60_000 });

test("a pod runs, then this test fails on purpose", () => {
  const k = (...args: string[]): string =>
    execFileSync(
      node.controlPlane.binaries.kubectl,
      ["--kubeconfig", node.controlPlane.kubeconfigPath, ...args],
      {
        encoding: "utf8",
      },
    );
  k("run", "sleeper", "--image=localhost/floxide-pause:1", "--image-pull-policy=Never");
  k("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s");
  assert.fail("deliberate failure with a pod running");
});
