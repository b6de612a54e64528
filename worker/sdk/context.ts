/**
 * The run context: an append-only event log folded into typed state by a user reducer.
 * Order is a per-run sequence assigned by the store when a step commits, never a wall clock,
 * so concurrent branches merge without loss and every reader folds the same order.
 */
export interface ContextSpec<S, E> {
  /** The state before any event. Called once per fold, so it may return a fresh object. */
  initial: () => S;
  /** Folds one event into the state. Must be pure: it is replayed on every worker. */
  reduce: (state: S, event: E) => S;
}

/** An event as committed: `id` is unique per event, `seq` is its place in the run's log. */
export interface EventRecord<E = unknown> {
  readonly id: string;
  readonly seq: number;
  readonly node: string;
  readonly itemId: string;
  readonly event: E;
}

/** An event emitted by a step, not yet committed (the store assigns `seq`). */
export interface EventDraft<E = unknown> {
  readonly id: string;
  readonly node: string;
  readonly itemId: string;
  readonly event: E;
}

/** Union of two logs by event id, ordered by sequence: commutative, associative, idempotent. */
export function mergeLogs<E>(a: readonly EventRecord<E>[], b: readonly EventRecord<E>[]): EventRecord<E>[] {
  const byId = new Map<string, EventRecord<E>>();
  for (const record of a) byId.set(record.id, record);
  for (const record of b) {
    const existing = byId.get(record.id);
    // The same id can only carry one sequence number; keep the lower one deterministically.
    if (existing === undefined || record.seq < existing.seq) byId.set(record.id, record);
  }
  return [...byId.values()].sort((x, y) => x.seq - y.seq || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}

export function foldEvents<S, E>(spec: ContextSpec<S, E>, state: S, events: Iterable<{ event: E }>): S {
  let current = state;
  for (const { event } of events) current = spec.reduce(current, event);
  return current;
}

/** The context used when a workflow declares none: events are kept, state is the event list. */
export function eventListContext<E>(): ContextSpec<E[], E> {
  return { initial: () => [], reduce: (state, event) => [...state, event] };
}
