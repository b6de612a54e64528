/**
 * A page of a workflow's dead letters, newest first, each with its raw entry as stored (the
 * console shows it: a corrupt entry set aside is exactly what an operator must see). Read-only;
 * one LRANGE from the tail per page and partition: O(page), whatever the list's length (with
 * partitions O(P x (offset + page)): each partition's newest, merged by time).
 */
import { decodeDeadLetter } from "./redis/codec.ts";
import type { RedisClient } from "./redis/connection.ts";
import { execPipeline } from "./redis/depth.ts";
import { DEFAULT_PREFIX, WorkflowKeys } from "./redis/keys.ts";
import type { DeadLetter } from "./types.ts";

export interface DeadLetterEntry {
  readonly raw: string;
  /** Null when the entry does not decode (then `problem` says why). */
  readonly letter: DeadLetter | null;
  readonly problem: string | null;
}

export interface DeadLetterPage {
  readonly total: number;
  readonly entries: readonly DeadLetterEntry[];
}

/** Entries `offset` .. `offset + limit - 1` counted from the newest (of every partition, by time). */
export async function readDeadLetters(
  redis: RedisClient,
  workflow: string,
  page: { readonly offset?: number; readonly limit?: number } = {},
  prefix: string = DEFAULT_PREFIX,
  partitions = 1,
): Promise<DeadLetterPage> {
  const offset = page.offset ?? 0;
  const limit = page.limit ?? 50;
  // One partition: that page of its list. More: the newest offset + limit of each, merged by time.
  const stop = partitions === 1 ? -(offset + 1) : -1;
  const reads = await Promise.all(
    new WorkflowKeys(workflow, prefix).partitions(partitions).map(async (keys) => {
      const key = keys.key("dead");
      return (await execPipeline(
        redis
          .multi()
          .llen(key)
          .lrange(key, -(offset + limit), stop),
        `dead letters of '${workflow}'`,
      )) as [number, string[]];
    }),
  );
  const total = reads.reduce((sum, [count]) => sum + count, 0);
  const [only] = reads;
  if (partitions === 1 && only !== undefined) return { total, entries: only[1].reverse().map(decodeEntry) };
  const entries = reads
    .flatMap(([, raws]) => raws.map(decodeEntry))
    // Newest first; an entry that does not decode has no time and goes last.
    .sort((a, b) => (b.letter?.at ?? -Infinity) - (a.letter?.at ?? -Infinity))
    .slice(offset, offset + limit);
  return { total, entries };
}

function decodeEntry(raw: string): DeadLetterEntry {
  try {
    return { raw, letter: decodeDeadLetter(raw), problem: null };
  } catch (error) {
    return { raw, letter: null, problem: (error as Error).message };
  }
}
