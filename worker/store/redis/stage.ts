/**
 * Stages a large fan-out before its commit: the follow-ups go to Redis in chunks (stage.lua),
 * each fenced by the step's lease, and the commit publishes them with the rest of the step in
 * one atomic call (commit.lua). No call's arguments grow with the fan-out, so a `nextAll` of
 * MAX_FAN_OUT items commits all or nothing like one of ten: until the commit, nothing staged is
 * visible, and a worker that dies mid-staging leaves nothing once its lease is released or
 * reclaimed. The publishing call still moves every item inside Redis (one LRANGE and one RPUSH
 * per 4,000): about 2 s for 1,000,000 small items on a loaded machine.
 */
import { FloxideError } from "../../sdk/index.ts";
import type { Claim, WorkItem } from "../types.ts";
import { checkBelongs } from "./commit-args.ts";
import { encodeItem } from "./codec.ts";

type Arg = string | number;

/** Follow-ups up to this many go inline in the commit; more are staged first. */
export const STAGE_ABOVE = 4096;
/** Most follow-ups, and about the most bytes of item JSON, per staging call. */
const CHUNK_ITEMS = 8192;
const CHUNK_BYTES = 8 * 1024 * 1024;

/** Calls stage.lua with its ARGV after base and retention. */
export type SendStage = (args: Arg[]) => Promise<unknown>;

/** Whether a success with these follow-ups is staged. */
export const needsStaging = (followUps: readonly WorkItem[]): boolean => followUps.length > STAGE_ABOVE;

/**
 * Stages every follow-up under the claim's lease; 'lease-lost' when the lease is gone (nothing
 * staged will ever be published then). Throws what a call throws.
 */
export async function stageFollowUps(
  send: SendStage,
  workflow: string,
  claim: Claim,
  followUps: readonly WorkItem[],
): Promise<"staged" | "lease-lost"> {
  for (let from = 0; from < followUps.length;) {
    const args: Arg[] = [claim.token, from === 0 ? "1" : "0"];
    let to = from;
    let bytes = 0;
    while (to < followUps.length && to - from < CHUNK_ITEMS && bytes < CHUNK_BYTES) {
      const item = followUps[to] as WorkItem;
      checkBelongs(workflow, claim.item.runId, item);
      const raw = encodeItem(item);
      args.push(raw);
      bytes += raw.length;
      to += 1;
    }
    const reply = await send(args);
    if (reply === "lease-lost") return "lease-lost";
    if (reply !== to) {
      throw new FloxideError(
        "StoreUnavailable",
        `unexpected reply from redis function 'stage': ${JSON.stringify(reply)} after staging ${to} follow-ups`,
      );
    }
    from = to;
  }
  return "staged";
}
