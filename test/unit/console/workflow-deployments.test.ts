import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeDeployments, describeKubeError } from "../../../console/server/kube/workflow-deployments.ts";

const wfd = (namespace: string, name: string, status?: Record<string, unknown>) => ({
  apiVersion: "floxide.dev/v1alpha1",
  kind: "WorkflowDeployment",
  metadata: { namespace, name, uid: "u" },
  spec: { workflow: "video", image: "x", module: "/m.js", redis: { url: "redis://r" } },
  ...(status === undefined ? {} : { status }),
});

test("replicas are read from the status; a new object without one has none yet", () => {
  const reading = decodeDeployments([
    wfd("b", "later", { desiredReplicas: 4, replicas: 3, readyReplicas: 2, backlog: { ready: 1 } }),
    wfd("a", "fresh"),
  ]);
  assert.deepEqual(reading, {
    deployments: [
      { namespace: "a", name: "fresh", workflow: "video", desired: null, current: null, ready: null },
      { namespace: "b", name: "later", workflow: "video", desired: 4, current: 3, ready: 2 },
    ],
    malformed: [],
  });
});

test("an object that does not decode is reported by name and never hides the others", () => {
  const reading = decodeDeployments([
    wfd("a", "bad", { replicas: -1 }),
    { metadata: { namespace: "a", name: "no-spec" } },
    wfd("a", "good", { replicas: 1 }),
  ]);
  assert.deepEqual(
    reading.deployments.map((d) => d.name),
    ["good"],
  );
  assert.equal(reading.malformed.length, 2);
  assert.match(reading.malformed[0] ?? "", /WorkflowDeployment a\/bad.*\/status\/replicas/);
  assert.match(reading.malformed[1] ?? "", /WorkflowDeployment a\/no-spec.*\/spec/);
});

test("a refusal is described by its status message, a 403 with the RBAC it needs", () => {
  const forbidden = Object.assign(new Error("HTTP-Code: 403"), {
    code: 403,
    body: JSON.stringify({ message: 'workflowdeployments.floxide.dev is forbidden: User "x" cannot list' }),
  });
  assert.match(
    describeKubeError(forbidden),
    /^HTTP 403: workflowdeployments\.floxide\.dev is forbidden.*RBAC `list`/,
  );
  assert.equal(describeKubeError(new Error("connect ECONNREFUSED")), "connect ECONNREFUSED");
});
