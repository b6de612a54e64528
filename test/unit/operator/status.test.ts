import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Deployment } from "@kubernetes/client-node";
import { computeStatus, sameStatus, setCondition } from "../../../operator/status/conditions.ts";
import { emptyMemory, type ScalingDecision } from "../../../operator/policy/scaling.ts";
import { workflowDeployment } from "./fixtures.ts";

const now = new Date("2026-01-01T00:00:00Z");
const decision = (desired: number): ScalingDecision => ({
  desired,
  reason: "Stable",
  message: "ok",
  memory: emptyMemory(),
});
const deployment = (replicas: number, observed = true): V1Deployment => ({
  metadata: { generation: 2 },
  status: { replicas, readyReplicas: 0, observedGeneration: observed ? 2 : 1 },
});
const ok = { ok: true as const, depth: { ready: 3, inFlight: 1, delayed: 0, dead: 2 }, busyWorkers: 1 };
const conditionsOf = (status: ReturnType<typeof computeStatus>) =>
  Object.fromEntries((status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));

const base = {
  wfd: workflowDeployment(),
  now,
  applyError: undefined,
  observation: ok,
  observedAt: now,
  previousReplicas: 2,
};

test("Ready once the children are applied and the Deployment controller caught up, even with no pod ready", () => {
  const status = computeStatus({ ...base, deployment: deployment(2), decision: decision(2) });
  assert.deepEqual(conditionsOf(status), {
    Ready: "True/Reconciled",
    Scaling: "False/Stable",
    StoreReachable: "True/BacklogRead",
    Degraded: "False/AsExpected",
  });
  assert.equal(status.observedGeneration, 3);
  assert.deepEqual(status.backlog, ok.depth);
  assert.equal(
    status.selector,
    "app.kubernetes.io/name=floxide-worker,floxide.dev/workflow-deployment=orders",
  );
  assert.match(status.conditions![0]!.message, /0\/2 pods ready/);
});

test("a Deployment not yet observed by its controller is not Ready; a scale in progress says Scaling", () => {
  const status = computeStatus({
    ...base,
    deployment: deployment(1, false),
    decision: decision(3),
    previousReplicas: 1,
  });
  assert.equal(conditionsOf(status).Ready, "False/DeploymentPending");
  assert.equal(conditionsOf(status).Scaling, "True/ScalingUp");
  assert.equal(status.lastScaleTime, now.toISOString());
});

test("Redis unreachable: StoreReachable False, Degraded, the last backlog kept", () => {
  const previous = computeStatus({ ...base, deployment: deployment(2), decision: decision(2) });
  const wfd = { ...workflowDeployment(), status: previous };
  const status = computeStatus({
    ...base,
    wfd,
    deployment: deployment(2),
    decision: decision(2),
    observation: { ok: false, error: "ECONNREFUSED" },
  });
  assert.equal(conditionsOf(status).StoreReachable, "False/RedisUnreachable");
  assert.equal(conditionsOf(status).Degraded, "True/StoreUnreachable");
  assert.equal(conditionsOf(status).Ready, "False/StoreUnreachable");
  assert.deepEqual(status.backlog, ok.depth);
});

test("an apply failure is Degraded and not Ready, with the API server's message", () => {
  const status = computeStatus({
    ...base,
    deployment: undefined,
    decision: decision(1),
    applyError: "forbidden",
  });
  assert.equal(conditionsOf(status).Degraded, "True/ApplyFailed");
  assert.equal(conditionsOf(status).Ready, "False/ApplyFailed");
});

test("lastTransitionTime moves only when a condition's status changes", () => {
  const first = setCondition([], { type: "Ready", status: "True", reason: "A", message: "" }, 1, now);
  const later = new Date(now.getTime() + 60_000);
  const same = setCondition(first, { type: "Ready", status: "True", reason: "B", message: "x" }, 2, later);
  assert.equal(same[0]!.lastTransitionTime, now.toISOString());
  assert.equal(same[0]!.reason, "B");
  const flipped = setCondition(same, { type: "Ready", status: "False", reason: "C", message: "" }, 2, later);
  assert.equal(flipped[0]!.lastTransitionTime, later.toISOString());
});

test("sameStatus ignores key order and lastPollTime", () => {
  const status = computeStatus({ ...base, deployment: deployment(2), decision: decision(2) });
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(status).reverse())));
  assert.ok(sameStatus(reordered, { ...status, lastPollTime: "2030-01-01T00:00:00Z" }));
  assert.ok(!sameStatus(reordered, { ...status, desiredReplicas: 9 }));
});
