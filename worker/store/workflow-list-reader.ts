/**
 * Which workflows a Redis holds: every workflow's keys start with its hash tag and it records its
 * layout version in `{prefix:workflow}:layout` (keys.ts), so a SCAN for that key names them all.
 * Read-only; on a Cluster every master is scanned (the tags spread over the slots).
 */
import { Cluster, type Redis } from "ioredis";
import type { RedisClient } from "./redis/connection.ts";
import { DEFAULT_PREFIX, WorkflowKeys } from "./redis/keys.ts";

/** The workflow names under `prefix`, sorted. Cost: one SCAN pass over the keyspace. */
export async function listWorkflows(redis: RedisClient, prefix: string = DEFAULT_PREFIX): Promise<string[]> {
  const probe = new WorkflowKeys("w", prefix);
  const layoutSuffix = probe.key("layout").slice(probe.base.length);
  const head = `{${prefix}:`;
  // SCAN's glob treats `{ } * ? [ ] \` specially: escape the prefix.
  const pattern = `${head.replace(/[{}*?[\]\\]/g, "\\$&")}*}${layoutSuffix}`;
  const nodes: Redis[] = redis instanceof Cluster ? redis.nodes("master") : [redis];
  const names = new Set<string>();
  for (const node of nodes) {
    let cursor = "0";
    do {
      const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      for (const key of keys) {
        const name = key.slice(head.length, key.length - layoutSuffix.length - 1);
        // `<workflow>#<i>`: a partition of a workflow whose partition 0 names it (keys.ts).
        if (key.startsWith(head) && name !== "" && !/[{}\s#]/.test(name)) names.add(name);
      }
    } while (cursor !== "0");
  }
  return [...names].sort();
}
