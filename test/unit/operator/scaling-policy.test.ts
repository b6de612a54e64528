import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decideReplicas,
  emptyMemory,
  type BacklogObservation,
  type ScalingMemory,
} from "../../../operator/policy/scaling.ts";
import type { ScalingSpec } from "../../../operator/api/workflow-deployment.ts";

const base: ScalingSpec = {
  enabled: true,
  minReplicas: 0,
  maxReplicas: 10,
  targetPerReplica: 10,
  activationThreshold: 0,
  pollIntervalSeconds: 15,
  scaleUpStabilizationSeconds: 0,
  scaleDownStabilizationSeconds: 60,
  cooldownSeconds: 120,
};

const seen = (ready: number, inFlight = 0, busyWorkers = 0): BacklogObservation => ({
  ok: true,
  depth: { ready, inFlight, delayed: 0, dead: 0 },
  busyWorkers,
});

interface Step {
  at: number; // seconds
  obs: BacklogObservation;
  expect: number;
  reason?: string;
}

/** Feeds observations in order, carrying the memory and the replicas as the scaler does. */
function run(
  spec: Partial<ScalingSpec>,
  start: number,
  steps: Step[],
  memory: ScalingMemory = emptyMemory(),
) {
  let current = start;
  for (const step of steps) {
    const decision = decideReplicas({
      scaling: { ...base, ...spec },
      specReplicas: undefined,
      current,
      observation: step.obs,
      memory,
      now: step.at * 1000,
    });
    assert.equal(decision.desired, step.expect, `at ${step.at}s: ${decision.reason} ${decision.message}`);
    if (step.reason) assert.equal(decision.reason, step.reason, `at ${step.at}s`);
    memory = decision.memory;
    current = decision.desired;
  }
}

const table: { name: string; spec?: Partial<ScalingSpec>; start: number; steps: Step[] }[] = [
  {
    name: "desired = ceil((ready + inFlight) / target), clamped to max",
    start: 1,
    steps: [
      { at: 0, obs: seen(25, 6), expect: 4, reason: "ScaledUp" },
      { at: 1, obs: seen(500), expect: 10 },
    ],
  },
  {
    name: "delayed retries and dead letters do not count as backlog",
    start: 1,
    steps: [
      {
        at: 0,
        obs: { ok: true, depth: { ready: 0, inFlight: 10, delayed: 90, dead: 7 }, busyWorkers: 1 },
        expect: 1,
      },
    ],
  },
  {
    name: "from zero, the first item scales to one (activation threshold 0)",
    start: 0,
    steps: [
      { at: 0, obs: seen(0), expect: 0, reason: "BelowActivation" },
      { at: 15, obs: seen(1), expect: 1, reason: "Activated" },
    ],
  },
  {
    name: "from zero, a backlog at or below the activation threshold keeps zero; above it scales to the target",
    spec: { activationThreshold: 20 },
    start: 0,
    steps: [
      { at: 0, obs: seen(20), expect: 0 },
      { at: 15, obs: seen(21), expect: 3, reason: "Activated" },
    ],
  },
  {
    name: "the activation threshold does not apply above zero",
    spec: { activationThreshold: 20 },
    start: 2,
    steps: [{ at: 0, obs: seen(5), expect: 2, reason: "HeldByStabilization" }],
  },
  {
    name: "scale-down waits for the window: the max recommendation of the last 60 s wins",
    start: 1,
    steps: [
      { at: 0, obs: seen(80), expect: 8 },
      { at: 15, obs: seen(10), expect: 8, reason: "HeldByStabilization" },
      { at: 45, obs: seen(10), expect: 8 },
      { at: 61, obs: seen(10), expect: 1, reason: "ScaledDown" },
    ],
  },
  {
    name: "flapping input does not flap replicas",
    start: 5,
    steps: [
      { at: 0, obs: seen(50), expect: 5 },
      { at: 15, obs: seen(0), expect: 5 },
      { at: 30, obs: seen(50), expect: 5 },
      { at: 45, obs: seen(0), expect: 5 },
      { at: 60, obs: seen(50), expect: 5 },
      { at: 75, obs: seen(0), expect: 5 },
    ],
  },
  {
    name: "to zero only after the cooldown with an empty backlog (one below it first, after the window)",
    start: 3,
    steps: [
      { at: 0, obs: seen(30), expect: 3 },
      { at: 10, obs: seen(0), expect: 3 },
      { at: 61, obs: seen(0), expect: 1, reason: "ScaledDown" },
      { at: 100, obs: seen(0), expect: 1, reason: "CoolingDown" },
      { at: 119, obs: seen(0), expect: 1 },
      { at: 120, obs: seen(0), expect: 0, reason: "ScaledToZero" },
    ],
  },
  {
    name: "an item during the cooldown restarts it",
    start: 1,
    steps: [
      { at: 0, obs: seen(1), expect: 1 },
      { at: 100, obs: seen(0), expect: 1 },
      { at: 110, obs: seen(0, 1, 1), expect: 1 },
      { at: 200, obs: seen(0), expect: 1 },
      { at: 230, obs: seen(0), expect: 0 },
    ],
  },
  {
    name: "minReplicas > 0 never goes to zero and ignores the cooldown",
    spec: { minReplicas: 2 },
    start: 2,
    steps: [
      { at: 0, obs: seen(0), expect: 2, reason: "Stable" },
      { at: 1000, obs: seen(0), expect: 2 },
    ],
  },
  {
    name: "minReplicas raised above the current count scales up at once",
    spec: { minReplicas: 4 },
    start: 1,
    steps: [{ at: 0, obs: seen(0), expect: 4 }],
  },
  {
    name: "min = max pins the count whatever the backlog",
    spec: { minReplicas: 3, maxReplicas: 3 },
    start: 3,
    steps: [
      { at: 0, obs: seen(1000), expect: 3 },
      { at: 500, obs: seen(0), expect: 3 },
    ],
  },
  {
    name: "after a restart (no memory) the scale-down window starts again",
    start: 5,
    steps: [
      { at: 0, obs: seen(10), expect: 5, reason: "HeldByStabilization" },
      { at: 61, obs: seen(10), expect: 1 },
    ],
  },
  {
    name: "a scale-down never goes below the workers holding leases",
    spec: { scaleDownStabilizationSeconds: 0 },
    start: 6,
    steps: [{ at: 0, obs: seen(0, 4, 4), expect: 4, reason: "ScaledDown" }],
  },
  {
    name: "the busy floor never scales up",
    spec: { scaleDownStabilizationSeconds: 0 },
    start: 2,
    steps: [{ at: 0, obs: seen(0, 3, 3), expect: 2 }],
  },
  {
    name: "a scale-up window takes the lowest recommendation of the window",
    spec: { scaleUpStabilizationSeconds: 30 },
    start: 1,
    steps: [
      { at: 0, obs: seen(10), expect: 1 },
      { at: 10, obs: seen(90), expect: 1, reason: "HeldByStabilization" },
      { at: 31, obs: seen(90), expect: 9 },
    ],
  },
];

for (const entry of table) {
  test(entry.name, () => run(entry.spec ?? {}, entry.start, entry.steps));
}

test("Redis unreachable keeps the current replicas and the memory", () => {
  const memory: ScalingMemory = { recommendations: [{ at: 0, replicas: 7 }], lastActiveAt: 0 };
  const decision = decideReplicas({
    scaling: base,
    specReplicas: undefined,
    current: 7,
    observation: { ok: false, error: "connect ECONNREFUSED" },
    memory,
    now: 999_000,
  });
  assert.equal(decision.desired, 7);
  assert.equal(decision.reason, "StoreUnreachable");
  assert.match(decision.message, /ECONNREFUSED/);
  assert.equal(decision.memory, memory);
});

test("before the first poll, a new Deployment starts at minReplicas and an existing one is kept", () => {
  const decide = (current: number | undefined) =>
    decideReplicas({
      scaling: { ...base, minReplicas: 2 },
      specReplicas: undefined,
      current,
      observation: undefined,
      memory: emptyMemory(),
      now: 0,
    }).desired;
  assert.equal(decide(undefined), 2);
  assert.equal(decide(5), 5);
});

test("with scaling disabled, spec.replicas decides whatever the backlog", () => {
  const decision = decideReplicas({
    scaling: { ...base, enabled: false },
    specReplicas: 3,
    current: 8,
    observation: seen(1000),
    memory: emptyMemory(),
    now: 0,
  });
  assert.deepEqual([decision.desired, decision.reason], [3, "ScalingDisabled"]);
});

test("a restart that remembers lastActiveTime keeps the cooldown", () => {
  run({}, 1, [{ at: 100, obs: seen(0), expect: 1, reason: "CoolingDown" }], emptyMemory(50_000));
  run({}, 1, [{ at: 170, obs: seen(0), expect: 0 }], emptyMemory(50_000));
});
