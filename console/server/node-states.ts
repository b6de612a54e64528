/**
 * Each node's state in one run, for the run's graph: from the item records (status, attempts,
 * time spent) and where the live items are (leased by a worker, waiting for a retry). Pure.
 */
import type { ItemStatus, RunDetail } from "../../worker/store/index.ts";

export type NodeState =
  "failed" | "running" | "retrying" | "held" | "parked" | "queued" | "done" | "cancelled" | "idle";

export interface NodeView {
  readonly node: string;
  readonly state: NodeState;
  /** Items of the node by status. */
  readonly counts: Partial<Record<ItemStatus, number>>;
  readonly durationMs: number;
  readonly attempts: number;
  /** Leases held now: which worker, since how long (ms), until when. */
  readonly leases: readonly { workerId: string; ageMs: number | null; deadline: number }[];
  /** The earliest due retry (Redis ms), or null. */
  readonly retryDue: number | null;
  readonly lastError: string | null;
}

const ORDER: readonly [ItemStatus, NodeState][] = [
  ["dead", "failed"],
  ["failed", "failed"],
  ["running", "running"],
  ["retrying", "retrying"],
  ["held", "held"],
  ["parked", "parked"],
  ["queued", "queued"],
  ["completed", "done"],
  ["cancelled", "cancelled"],
];

/** Node views in `order` (the graph's nodes), then any node seen only in the items. */
export function nodeViews(detail: RunDetail, order: readonly string[] = []): NodeView[] {
  const names = [...order];
  for (const state of detail.items) if (!names.includes(state.node)) names.push(state.node);
  return names.map((node) => {
    const items = detail.items.filter((state) => state.node === node);
    const counts: Partial<Record<ItemStatus, number>> = {};
    for (const state of items) counts[state.status] = (counts[state.status] ?? 0) + 1;
    const state = ORDER.find(([status]) => (counts[status] ?? 0) > 0)?.[1] ?? "idle";
    const leases = detail.leased
      .filter((lease) => lease.item.node === node)
      .map((lease) => {
        const record = items.find((item) => item.itemId === lease.item.id);
        return {
          workerId: lease.workerId,
          ageMs: record === undefined ? null : Math.max(0, detail.now - record.updatedAt),
          deadline: lease.deadline,
        };
      });
    const dues = detail.retrying
      .filter((waiting) => waiting.item.node === node)
      .map((waiting) => waiting.due ?? 0);
    const errored = items
      .filter((item) => item.lastError !== null)
      .sort((a, b) => b.updatedAt - a.updatedAt)[0];
    return {
      node,
      state,
      counts,
      durationMs: items.reduce((sum, item) => sum + item.durationMs, 0),
      attempts: items.reduce((sum, item) => sum + item.attempt, 0),
      leases,
      retryDue: dues.length === 0 ? null : Math.min(...dues),
      lastError:
        errored?.lastError === null || errored === undefined
          ? null
          : `${errored.lastError.code}: ${errored.lastError.message}`,
    };
  });
}
