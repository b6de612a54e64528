/**
 * The ARGV of commit.lua and create-run.lua (after the common base and retention), built and
 * checked before anything is sent: a function cannot roll back, so a bad argument must fail here.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { CreateRunRequest } from "../contract.ts";
import type { Claim, JoinArrival, StepOutcome, WorkItem } from "../types.ts";
import { encodeError, encodeEvent, encodeItem, encodeItemHead, encodeOutput, toJson } from "./codec.ts";

type Arg = string | number;

/** An item enqueued for another run or workflow would be orphaned or dead-lettered later. */
export function checkBelongs(workflow: string, runId: string, item: WorkItem): void {
  if (item.runId !== runId || item.workflow !== workflow) {
    throw new FloxideError(
      "InvalidItem",
      `item ${item.id} of ${item.workflow}/${item.runId} enqueued by ${workflow}/${runId}`,
      { runId, itemId: item.id },
    );
  }
}

/** Appends follow-ups to `args` (4 each, commit.lua); in place: a spread of a long list grows the stack. */
function pushFollowUps(args: Arg[], workflow: string, runId: string, items: readonly WorkItem[]): void {
  for (const item of items) {
    checkBelongs(workflow, runId, item);
    args.push(encodeItem(item), item.id, item.node, item.attempt);
  }
}

function pushArrivals(args: Arg[], workflow: string, runId: string, arrivals: readonly JoinArrival[]): void {
  args.push(arrivals.length);
  for (const { frame, value, joinItem } of arrivals) {
    checkBelongs(workflow, runId, joinItem);
    // The join fires once `count` distinct indexes arrived; that is all branches only in range.
    if (!Number.isInteger(frame.index) || frame.index < 0 || frame.index >= frame.count) {
      throw new FloxideError(
        "InvalidItem",
        `join arrival index ${frame.index} of ${frame.count} is out of range`,
      );
    }
    const valueJson = toJson(value, `join value of frame ${frame.id}`);
    args.push(frame.id, frame.index, frame.count, valueJson);
    args.push(joinItem.node, joinItem.id, joinItem.attempt, encodeItemHead(joinItem));
  }
}

/**
 * One commit's entry in a commit batch (commit.lua): its argument count, then its arguments.
 * Throws (and sends nothing) for an outcome the function could not apply. `staged`: the
 * success's follow-ups were staged under the lease (stage.ts); only their count is sent.
 */
export function commitArgs(workflow: string, claim: Claim, outcome: StepOutcome, staged = false): Arg[] {
  if (!Number.isFinite(outcome.durationMs) || outcome.durationMs < 0) {
    throw new FloxideError("InvalidInput", `step duration ${outcome.durationMs} is not a duration`);
  }
  const runId = claim.item.runId;
  const args: Arg[] = [
    0, // the count, set below
    claim.token,
    runId,
    outcome.kind,
    Math.round(outcome.durationMs * 1000),
    outcome.kind === "success" ? "" : encodeError(outcome.error),
    outcome.kind === "retry" ? Math.max(0, Math.round(outcome.delayMs)) : 0,
    outcome.kind === "fail" && outcome.deadLetter ? "1" : "0",
    outcome.kind === "success" && outcome.hold !== null ? "1" : "0",
  ];
  if (outcome.kind === "success") {
    args.push(outcome.events.length);
    for (const event of outcome.events) args.push(encodeEvent(event));
    if (staged) args.push(-outcome.followUps.length);
    else {
      args.push(outcome.followUps.length);
      pushFollowUps(args, workflow, runId, outcome.followUps);
    }
    pushArrivals(args, workflow, runId, outcome.arrivals);
    args.push(outcome.outputs.length);
    for (const output of outcome.outputs) args.push(encodeOutput(output));
  } else if (outcome.kind === "fallback") {
    args.push(outcome.followUps.length);
    pushFollowUps(args, workflow, runId, outcome.followUps);
  }
  args[0] = args.length - 1;
  return args;
}

export function createRunArgs(workflow: string, request: CreateRunRequest): Arg[] {
  const { runId, idempotencyKey, startItem } = request;
  checkBelongs(workflow, runId, startItem);
  return [
    workflow,
    runId,
    idempotencyKey === null ? "0" : "1",
    idempotencyKey ?? "",
    toJson(request.input, "run input"),
    request.version,
    encodeItem(startItem),
    startItem.id,
    startItem.node,
    startItem.attempt,
  ];
}
