import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { VersionStatus } from "../../../operator/api/workflow-deployment.ts";
import { transitions } from "../../../operator/controller/versions.ts";
import { desiredRollout, planVersions, type PlannedVersion } from "../../../operator/policy/versions.ts";

const NOW = 1_000_000;
const noRamp = { rampPercent: 0, rampSeconds: 0, retireAfterSeconds: 60 };
const ramp = { rampPercent: 20, rampSeconds: 300, retireAfterSeconds: 60 };
const held = (current: string | null, rampTo?: { version: string; until: number }) => ({
  current,
  ramp: rampTo ? { ...rampTo, percent: 20 } : null,
});

describe("desiredRollout", () => {
  const cases: [string, Parameters<typeof desiredRollout>, ReturnType<typeof desiredRollout>][] = [
    ["first version: current at once", ["1", ramp, held(null), false, NOW], { current: "1", ramp: null }],
    ["same version: unchanged", ["1", ramp, held("1"), false, NOW], { current: "1", ramp: null }],
    [
      "new version, no ramp: current at once",
      ["2", noRamp, held("1"), false, NOW],
      { current: "2", ramp: null },
    ],
    [
      "new version with a ramp: the old stays current, the new takes its share",
      ["2", ramp, held("1"), false, NOW],
      { current: "1", ramp: { version: "2", percent: 20, periodMs: 300_000 } },
    ],
    [
      "the ramp's period is over: the new version is current",
      ["2", ramp, held("1", { version: "2", until: NOW }), false, NOW],
      { current: "2", ramp: null },
    ],
    [
      "rollback during the ramp: the old version alone",
      ["1", ramp, held("1", { version: "2", until: NOW + 1 }), false, NOW],
      { current: "1", ramp: null },
    ],
    [
      "rollback to a draining version: current at once, no ramp back",
      ["1", ramp, held("2"), true, NOW],
      { current: "1", ramp: null },
    ],
  ];
  for (const [name, args, expected] of cases)
    test(name, () => assert.deepEqual(desiredRollout(...args), expected));
});

describe("planVersions", () => {
  const status = (
    version: string,
    state: VersionStatus["state"],
    extra: Partial<VersionStatus> = {},
  ): VersionStatus => ({
    version,
    state,
    replicas: 1,
    desiredReplicas: 1,
    ...extra,
  });
  const base = {
    rollout: { current: "2", ramp: null },
    deployed: new Set<string>(),
    now: NOW,
    retireAfterSeconds: 60,
  };
  const brief = (plan: ReturnType<typeof planVersions>) =>
    plan.map(({ version, state, retireNow, stranded }) => ({ version, state, retireNow, stranded }));

  test("the old version drains while it has items", () => {
    const plan = planVersions({ ...base, previous: [status("1", "current")], backlog: new Map([["1", 3]]) });
    assert.deepEqual(brief(plan), [
      { version: "2", state: "current", retireNow: false, stranded: false },
      { version: "1", state: "draining", retireNow: false, stranded: false },
    ]);
    assert.equal(plan[1]?.drainedSince, undefined);
  });

  test("an empty backlog starts the clock; it retires only after retireAfterSeconds of it", () => {
    const first = planVersions({
      ...base,
      previous: [status("1", "draining")],
      backlog: new Map([["1", 0]]),
    });
    assert.equal(first[1]?.drainedSince, NOW);
    assert.equal(first[1]?.retireNow, false);
    const since = new Date(NOW - 59_000).toISOString();
    const early = planVersions({
      ...base,
      previous: [status("1", "draining", { drainedSince: since })],
      backlog: new Map(),
    });
    assert.equal(early[1]?.retireNow, false);
    const due = new Date(NOW - 60_000).toISOString();
    const late = planVersions({
      ...base,
      previous: [status("1", "draining", { drainedSince: due })],
      backlog: new Map(),
    });
    assert.deepEqual(brief(late)[1], { version: "1", state: "retired", retireNow: true, stranded: false });
  });

  test("items again reset the clock; an unread backlog never retires", () => {
    const due = new Date(NOW - 600_000).toISOString();
    const previous = [status("1", "draining", { drainedSince: due })];
    assert.equal(
      planVersions({ ...base, previous, backlog: new Map([["1", 1]]) })[1]?.drainedSince,
      undefined,
    );
    const unread = planVersions({ ...base, previous, backlog: undefined })[1];
    assert.equal(unread?.retireNow, false);
    assert.equal(unread?.state, "draining");
  });

  test("a version with items and nothing to serve it is reported stranded; retired ones are kept, newest first", () => {
    const previous = Array.from({ length: 7 }, (_, i) =>
      status(`old${i}`, "retired", { retiredTime: new Date(NOW - i * 1000).toISOString() }),
    );
    const plan = planVersions({ ...base, previous, backlog: new Map([["0", 4]]) });
    assert.deepEqual(brief(plan).slice(0, 2), [
      { version: "2", state: "current", retireNow: false, stranded: false },
      { version: "0", state: "retired", retireNow: false, stranded: true },
    ]);
    assert.deepEqual(
      plan.slice(2).map((p) => p.version),
      ["old0", "old1", "old2", "old3", "old4"],
    );
  });

  test("a Deployment of a version the status forgot is drained, not orphaned", () => {
    const plan = planVersions({
      ...base,
      previous: [],
      deployed: new Set(["1"]),
      backlog: new Map([["1", 2]]),
    });
    assert.deepEqual(brief(plan)[1], { version: "1", state: "draining", retireNow: false, stranded: false });
  });
});

describe("version Events", () => {
  const entry = (version: string, state: VersionStatus["state"]): VersionStatus => ({
    version,
    state,
    replicas: 0,
    desiredReplicas: 0,
  });
  const planned = (version: string, state: VersionStatus["state"], extra: Partial<PlannedVersion> = {}) => ({
    version,
    state,
    backlog: 0,
    retireNow: false,
    stranded: false,
    ...extra,
  });
  const rollout = { current: "2", ramp: null };

  test("one Event per state change: draining, current again (rollback), retired, stranded", () => {
    const events = transitions(
      [entry("1", "current"), entry("2", "draining"), entry("3", "draining")],
      [
        planned("2", "current"),
        planned("1", "draining", { backlog: 4 }),
        planned("3", "retired", { retireNow: true }),
        planned("0", "retired", { backlog: 2, stranded: true }),
      ],
      rollout,
    );
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.reason}`),
      ["Normal VersionCurrent", "Normal VersionDraining", "Normal VersionRetired", "Warning VersionStranded"],
    );
    assert.match(events[0]?.message ?? "", /rollback/);
    assert.match(events[1]?.message ?? "", /its 4 pinned items, new runs go to 2/);
  });

  test("no Event when nothing changed", () => {
    assert.deepEqual(transitions([entry("2", "current")], [planned("2", "current")], rollout), []);
  });
});
