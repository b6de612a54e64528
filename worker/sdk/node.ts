import type { Transition } from "./transitions.ts";

type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** The logging surface nodes see; pino loggers satisfy it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** What a node gets besides its input. */
export interface NodeContext<S = unknown, E = unknown> {
  readonly workflow: string;
  readonly runId: string;
  readonly itemId: string;
  readonly node: string;
  /** 1 on the first delivery, +1 on every retry or lease reclaim. */
  readonly attempt: number;
  /** The folded state: committed events plus the ones this step emitted so far. */
  readonly state: S;
  /** Appends an event; it is committed with the step, and discarded if the step fails. */
  emit(event: E): void;
  /** Fires when the run is cancelled or failed elsewhere, the lease is lost, or the step times out. */
  readonly signal: AbortSignal;
  readonly log: Logger;
}

export type Backoff = "fixed" | "linear" | "exponential";

/** How failed attempts are retried. Plain data except `retryable`; the engine applies it. */
export interface RetryOptions {
  /** Deliveries in total, the first included (1 = no retry). */
  maxAttempts?: number;
  backoff?: Backoff;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Fraction of the delay drawn at random and subtracted (0 = none, 1 = "full jitter"). */
  jitter?: number;
  /** Decides whether an error is worth another attempt; default: every error is. */
  retryable?: (error: unknown) => boolean;
}

export interface NodeOptions {
  retry?: RetryOptions;
  /** Per-attempt time limit; on expiry `ctx.signal` aborts and the attempt fails with StepTimeout. */
  timeoutMs?: number;
  /** The tags this node may route by; lets `workflow()` check routed edges at definition. */
  tags?: readonly string[];
}

export type StepHandler<I, O, S, E> = (
  ctx: NodeContext<S, E>,
  input: I,
) => Transition<O> | Promise<Transition<O>>;

export interface NodeDef<I = unknown, O = unknown, S = unknown, E = unknown> {
  readonly kind: "step" | "join";
  readonly name: string;
  readonly options: NodeOptions;
  /** For a join, `input` is the array of branch outputs in fan-out order. */
  readonly handler: StepHandler<I, O, S, E>;
}

/** A node: an async function from (context, input) to a transition. */
export function node<I, O, S = unknown, E = unknown>(
  name: string,
  handler: StepHandler<I, O, S, E>,
  options: NodeOptions = {},
): NodeDef<I, O, S, E> {
  return { kind: "step", name, handler, options };
}

/**
 * A join (fan-in) node: fires exactly once, when every branch spawned by the nearest
 * enclosing `nextAll` has arrived, with their outputs in fan-out order.
 */
export function join<I, O, S = unknown, E = unknown>(
  name: string,
  handler: StepHandler<I[], O, S, E>,
  options: NodeOptions = {},
): NodeDef<I[], O, S, E> {
  return { kind: "join", name, handler, options };
}
