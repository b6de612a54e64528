/**
 * `durability: replicated`: a commit counts once a replica has it. Redis replicates
 * asynchronously, so a master that dies right after answering can take acknowledged writes with
 * it; `WAIT 1 <ms>` answers how many replicas hold every write of ITS connection so far. So the
 * FCALL and the WAIT go out in one pipeline on the connection of the master that owns the
 * workflow's slot (one round trip), and the WAIT is retried on that same connection only: a WAIT
 * on another connection (a reconnect, a promoted replica) has written nothing and would confirm
 * at once whatever the commit's fate.
 *
 * The WAIT covers every write that master applied before the commit, the claims included (the
 * replication stream is ordered). A claim no commit followed yet may still be lost in a failover:
 * that only means the item is claimed again (the lost token's commit is refused, its result never
 * reported). A commit no replica confirmed before the lease ends is reported to no one: the
 * caller gets NotReplicated, and the item is left to its lease (if the failover lost the commit,
 * the lease on the new master brings the item back; if not, the commit stands).
 */
import { Cluster, type Redis } from "ioredis";
import { FloxideError } from "../../sdk/index.ts";
import type { RedisClient } from "./connection.ts";
import { keySlot } from "./key-slot.ts";

/** One WAIT blocks the shared connection at most this long; retried while the lease lasts. */
export const WAIT_STEP_MS = 500;
/** Below this much lease left, no WAIT is tried again (the lease keeper needs the connection too). */
const LEASE_MARGIN_MS = 100;
/**
 * The first WAIT gets at least this long, even past the lease's original end: a commit that was
 * applied removed its lease, so nothing else can run the item unless a failover loses it, and a
 * healthy replica acknowledges within a millisecond or two.
 */
const FIRST_WAIT_MS = 200;
/** The FCALL reached a node that does not serve the slot (moved, failing over): it ran nothing. */
const NOT_SERVED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|READONLY|LOADING|MASTERDOWN)\b/;
/** Pause before routing again after a slot was not served, so a failover is not hammered. */
const REROUTE_PAUSE_MS = 100;

type Arg = string | number;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The failure of a commit no replica confirmed in time: its result must not be reported.
 * `reply`: what the master answered, when it did (the items the call claimed are in it).
 */
export function notReplicated(detail: string, reply?: unknown): FloxideError {
  return new FloxideError(
    "StoreUnavailable",
    `commit not confirmed by a Redis replica (durability replicated): ${detail}; its steps are not reported, ` +
      "the items are left to their leases (a commit a failover lost runs again). Check the masters' replicas " +
      "(INFO replication: connected_slaves, lag)",
    { durability: "replicated", notReplicated: true, ...(reply === undefined ? {} : { reply }) },
  );
}

/** The master's reply an unconfirmed commit call got, if the error is one. */
export function unconfirmedReply(error: unknown): readonly unknown[] | undefined {
  if (!(error instanceof FloxideError) || error.details.notReplicated !== true) return undefined;
  const reply = error.details.reply;
  return Array.isArray(reply) ? reply : undefined;
}

const refreshed = (cluster: Cluster): Promise<void> =>
  new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));

/** The client of the master that owns `key`'s slot (a Cluster's node, or the client itself). */
async function masterOf(client: RedisClient, key: string): Promise<Redis> {
  if (!(client instanceof Cluster)) return client;
  const slot = keySlot(key);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const owner = client.slots[slot]?.[0];
    const node = client
      .nodes("master")
      .find((candidate) => `${candidate.options.host}:${candidate.options.port}` === owner);
    if (node !== undefined) return node;
    await refreshed(client);
  }
  throw new FloxideError("StoreUnavailable", `no Redis Cluster master serves slot ${slot} (of key ${key})`);
}

/**
 * Sends one FCALL (its arguments as runScript builds them) followed by `WAIT 1` on the same
 * connection, and answers the FCALL's reply once a replica confirmed it. `routeKey`: a key of
 * the call (its slot picks the master). `deadline`: the earliest lease end of the commits it
 * carries (ms since the epoch). FCALL errors are thrown as they came (runScript reloads a missing
 * library and words the error); NotReplicated when no replica confirmed before the deadline.
 */
export async function callReplicated(
  client: RedisClient,
  routeKey: string,
  fcall: readonly Arg[],
  deadline: number,
): Promise<unknown> {
  for (;;) {
    const node = await masterOf(client, routeKey);
    const step = (): number => Math.max(1, Math.min(WAIT_STEP_MS, deadline - Date.now() - LEASE_MARGIN_MS));
    const replies = await node
      .pipeline()
      .call("FCALL", ...fcall)
      .call("WAIT", 1, Math.max(FIRST_WAIT_MS, step()))
      .exec();
    // The connection the replies came on: no other can have replaced it since (no I/O ran).
    const stream = node.stream;
    const [call, wait] = replies ?? [];
    if (call === undefined || wait === undefined) throw new Error("the commit pipeline was aborted");
    const [callError, result] = call;
    if (callError !== null) {
      if (client instanceof Cluster && NOT_SERVED.test(message(callError)) && Date.now() < deadline) {
        await refreshed(client);
        await new Promise((resolve) => setTimeout(resolve, REROUTE_PAUSE_MS));
        continue;
      }
      throw callError;
    }
    const [waitError, acks] = wait;
    if (waitError !== null) throw notReplicated(`WAIT failed: ${message(waitError)}`, result);
    let confirmed = Number(acks) >= 1;
    while (!confirmed && deadline - Date.now() > LEASE_MARGIN_MS && node.stream === stream) {
      const more = await node.call("WAIT", 1, step());
      // A WAIT that went out on a new connection (resent after a reconnect) proves nothing.
      if (node.stream !== stream) break;
      confirmed = Number(more) >= 1;
    }
    if (!confirmed)
      throw notReplicated(
        node.stream === stream ? "no replica acknowledged before the lease ended" : "the connection was lost",
        result,
      );
    return result;
  }
}
