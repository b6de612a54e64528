/**
 * A page of a workflow's dead letters, newest first, each with its raw entry as stored (the
 * console shows it: a corrupt entry set aside is exactly what an operator must see). Read-only;
 * one LRANGE from the tail per page: O(page), whatever the list's length.
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

/** Entries `offset` .. `offset + limit - 1` counted from the newest. */
export async function readDeadLetters(
  redis: RedisClient,
  workflow: string,
  page: { readonly offset?: number; readonly limit?: number } = {},
  prefix: string = DEFAULT_PREFIX,
): Promise<DeadLetterPage> {
  const key = new WorkflowKeys(workflow, prefix).key("dead");
  const offset = page.offset ?? 0;
  const limit = page.limit ?? 50;
  const [total, raws] = (await execPipeline(
    redis
      .multi()
      .llen(key)
      .lrange(key, -(offset + limit), -(offset + 1)),
    `dead letters of '${workflow}'`,
  )) as [number, string[]];
  const entries = raws.reverse().map((raw) => {
    try {
      return { raw, letter: decodeDeadLetter(raw), problem: null };
    } catch (error) {
      return { raw, letter: null, problem: (error as Error).message };
    }
  });
  return { total, entries };
}
