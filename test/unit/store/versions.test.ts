import assert from "node:assert/strict";
import { test } from "node:test";
import { reportVersions, type WorkflowVersions } from "../../../worker/store/index.ts";

const backlog = (version: string, since: number, ready = 0, inFlight = 0, delayed = 0) => ({
  version,
  since,
  ready,
  inFlight,
  delayed,
});
const worker = (version: string) => ({
  workerId: `w-${version}`,
  status: "idle" as const,
  inFlight: 0,
  at: 0,
  version,
});

test("each version's role: current, ramping, draining with a backlog, idle without", () => {
  const versions: WorkflowVersions = {
    rollout: { current: "2", ramp: { version: "3", percent: 10, until: 1 } },
    versions: [backlog("1", 1, 4), backlog("2", 2), backlog("3", 3, 1), backlog("0", 0)],
  };
  const report = reportVersions(versions, [worker("1"), worker("2"), worker("3")]);
  assert.deepEqual(
    report.map(({ version, role, workers, stranded }) => ({ version, role, workers, stranded })),
    [
      { version: "1", role: "draining", workers: 1, stranded: false },
      { version: "2", role: "current", workers: 1, stranded: false },
      { version: "3", role: "ramping", workers: 1, stranded: false },
      { version: "0", role: "idle", workers: 0, stranded: false },
    ],
  );
});

test("a backlog no worker of its version will run is stranded; the current version's never is", () => {
  const versions: WorkflowVersions = {
    rollout: { current: "2", ramp: null },
    versions: [backlog("1", 1, 0, 0, 2), backlog("2", 2, 5)],
  };
  const report = reportVersions(versions, []);
  assert.deepEqual(
    report.map(({ version, stranded }) => ({ version, stranded })),
    [
      { version: "1", stranded: true },
      { version: "2", stranded: false },
    ],
  );
});

test("without a rollout state the newest version is current", () => {
  const versions: WorkflowVersions = {
    rollout: { current: null, ramp: null },
    versions: [backlog("a", 5, 1), backlog("b", 9, 1)],
  };
  assert.deepEqual(
    reportVersions(versions, []).map(({ version, role, stranded }) => ({ version, role, stranded })),
    [
      { version: "a", role: "draining", stranded: true },
      { version: "b", role: "current", stranded: false },
    ],
  );
});
