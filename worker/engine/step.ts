import { randomUUID } from "node:crypto";
import {
  edgesOf,
  errorStack,
  FloxideError,
  isTransition,
  toErrorInfo,
  type EventDraft,
  type Logger,
  type NodeContext,
  type NodeDef,
  type Transition,
  type WorkflowDef,
} from "../sdk/index.ts";
import {
  MAX_FAN_OUT,
  unstorableReason,
  type Claim,
  type FanFrame,
  type StepOutcome,
  type WorkItem,
} from "../store/index.ts";
import type { ContextCache } from "./context-cache.ts";
import { resolveRetry, retryDelay, shouldRetry, type RetryPolicy } from "./retry.ts";
import { routeTransition } from "./route.ts";
import type { StepStop } from "./step-stop.ts";

type AnyWorkflow = WorkflowDef<unknown, unknown>;

/** Per-workflow facts the step needs, computed once. */
export class CompiledWorkflow {
  readonly def: AnyWorkflow;
  private readonly policies = new Map<string, RetryPolicy>();

  constructor(def: AnyWorkflow) {
    this.def = def;
    for (const node of this.def.nodes.values()) {
      this.policies.set(node.name, resolveRetry(this.def.retry, node.options.retry));
    }
  }

  policy(node: string): RetryPolicy {
    return this.policies.get(node) ?? resolveRetry(this.def.retry);
  }

  newItem(runId: string, node: string, input: unknown, frames: readonly FanFrame[], id?: string): WorkItem {
    return {
      id: id ?? randomUUID(),
      runId,
      workflow: this.def.name,
      version: this.def.version,
      node,
      input,
      attempt: 1,
      maxAttempts: this.policy(node).maxAttempts,
      frames,
      enqueuedAt: Date.now(),
    };
  }
}

export interface StepDeps {
  readonly workflow: CompiledWorkflow;
  readonly contexts: ContextCache;
  readonly log: Logger;
  readonly random?: () => number;
}

/** Why a step's signal fired; the reason decides whether the failure is the node's fault. */
export type StopReason = "timeout" | "run-finished" | "lease-lost" | "shutdown";

export class StepAbort extends FloxideError {
  readonly reason: StopReason;
  constructor(reason: StopReason, message: string) {
    super(
      reason === "timeout" ? "StepTimeout" : reason === "lease-lost" ? "LeaseLost" : "Cancelled",
      message,
      {
        reason,
      },
    );
    this.reason = reason;
  }
}

/**
 * Runs one claimed item to an outcome: loads the context, runs the node under its timeout and
 * the caller's stop, routes the transition. Never throws for a node's fault: every failure
 * becomes a retry, fallback or fail outcome for the store to commit. The timeout stops the step
 * through the same `stop` (its reason, a timeout, is the node's failure).
 */
export async function runStep(deps: StepDeps, claim: Claim, stop: StepStop): Promise<StepOutcome> {
  const { item } = claim;
  const { def } = deps.workflow;
  const started = performance.now();
  const elapsed = (): number => Math.round((performance.now() - started) * 1000) / 1000;
  const node = def.nodes.get(item.node);
  if (item.workflow !== def.name || item.version !== def.version || node === undefined) {
    const error = new FloxideError(
      "InvalidItem",
      `item ${item.id} is for ${item.workflow}@${item.version} node '${item.node}', this worker runs ${def.name}@${def.version}`,
      { itemId: item.id },
    );
    return { kind: "fail", error: toErrorInfo(error, item.node), deadLetter: true, durationMs: 0 };
  }

  const timeoutMs = node.options.timeoutMs ?? def.timeoutMs;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () => stop.abort(new StepAbort("timeout", `step timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );

  const events: EventDraft[] = [];
  try {
    const view = await deps.contexts.load(item.runId, claim.contextSeq);
    const transition = await runNode(deps, node, claim, view.state, events, stop);
    if (transition.kind === "abort") {
      const error = new FloxideError("Aborted", transition.error, { node: item.node });
      return { kind: "fail", error: toErrorInfo(error, item.node), deadLetter: false, durationMs: elapsed() };
    }
    if (transition.kind === "hold") {
      return {
        kind: "success",
        events,
        followUps: [],
        arrivals: [],
        outputs: [],
        hold: { reason: transition.reason ?? null },
        durationMs: elapsed(),
      };
    }
    checkFanOut(item.node, transition);
    const makeItem = (target: string, input: unknown, frames: readonly FanFrame[], id?: string): WorkItem =>
      deps.workflow.newItem(item.runId, target, input, frames, id);
    const routed = routeTransition(def, item, transition, makeItem);
    // One array of the values, filled in place (a step's usual one or two: no spreads or maps).
    const values: unknown[] = [];
    for (const followUp of routed.followUps) values.push(followUp.input);
    for (const arrival of routed.arrivals) values.push(arrival.value);
    for (const output of routed.outputs) values.push(output.value);
    checkPayloads(def.maxPayloadBytes, item.node, values);
    if (events.length > 0) {
      checkPayloads(
        def.maxPayloadBytes,
        item.node,
        events.map((event) => event.event),
        "event",
      );
    }
    return { kind: "success", events, ...routed, hold: null, durationMs: elapsed() };
  } catch (error) {
    return failureOutcome(deps, item, error, elapsed());
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What a node sees of its step (`ctx`). A class, so a step allocates the object and one closure
 * (`emit`): the getters live on the prototype, not in closures made per step. The logger is made
 * when the node first logs, the AbortSignal when it first reads `signal` (StepStop): most nodes do
 * neither.
 */
class StepContext implements NodeContext<unknown, unknown> {
  readonly workflow: string;
  readonly runId: string;
  readonly itemId: string;
  readonly node: string;
  readonly attempt: number;
  #state: unknown;
  /** Whether #state is this step's own copy (made before the first fold). */
  #copied = false;
  #log: Logger | undefined;
  readonly #deps: StepDeps;
  readonly #events: EventDraft[];
  readonly #stop: StepStop;

  constructor(deps: StepDeps, item: WorkItem, committedState: unknown, events: EventDraft[], stop: StepStop) {
    this.workflow = item.workflow;
    this.runId = item.runId;
    this.itemId = item.id;
    this.node = item.node;
    this.attempt = item.attempt;
    this.#state = committedState;
    this.#deps = deps;
    this.#events = events;
    this.#stop = stop;
  }

  get state(): unknown {
    return this.#state;
  }

  /** A property, not a method: a node may take it out of ctx (`({ emit }) => ...`). */
  readonly emit = (event: unknown): void => {
    if (this.#stop.aborted) throw this.#stop.reason;
    // Copy before the first fold so a failed attempt never touches the cached state.
    if (!this.#copied) {
      this.#state = structuredClone(this.#state);
      this.#copied = true;
    }
    try {
      this.#state = this.#deps.workflow.def.context.reduce(this.#state, event);
    } catch (error) {
      throw new FloxideError(
        "ReducerFailed",
        `the context reducer threw on an event from '${this.node}': ${String(error)}`,
        {
          node: this.node,
        },
        { cause: error },
      );
    }
    this.#events.push({ id: randomUUID(), node: this.node, itemId: this.itemId, event });
  };

  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  get log(): Logger {
    this.#log ??= childLog(this.#deps.log, {
      workflow: this.workflow,
      run: this.runId,
      item: this.itemId,
      node: this.node,
    });
    return this.#log;
  }
}

async function runNode(
  deps: StepDeps,
  node: NodeDef<unknown, unknown, unknown, unknown>,
  claim: Claim,
  committedState: unknown,
  events: EventDraft[],
  stop: StepStop,
): Promise<Transition> {
  const { item } = claim;
  const ctx = new StepContext(deps, item, committedState, events, stop);
  if (stop.aborted) throw stop.reason;
  const returned = node.handler(ctx, item.input);
  // A node that returns at once needs no race; one that awaits is abandoned when the step stops.
  const result = isPromiseLike(returned)
    ? await new Promise<unknown>((resolve, reject) => {
        stop.onAbort(() => reject(stop.reason));
        returned.then(resolve, reject);
      })
    : returned;
  if (!isTransition(result)) {
    throw new FloxideError(
      "NodeFailed",
      `node '${item.node}' returned ${JSON.stringify(result) ?? String(result)}, not a transition (use next, nextAll, hold or abort)`,
      { node: item.node },
    );
  }
  return result;
}

const isPromiseLike = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";

/** Refuses a fan-out over MAX_FAN_OUT values (final: the same values come back on a retry). */
function checkFanOut(node: string, transition: Transition): void {
  if (transition.kind !== "nextAll" || transition.outputs.length <= MAX_FAN_OUT) return;
  const count = (n: number): string => n.toLocaleString("en-US");
  throw new FloxideError(
    "InvalidOutput",
    `node '${node}' fanned out to ${count(transition.outputs.length)} values, over the limit of ` +
      `${count(MAX_FAN_OUT)} per nextAll (MAX_FAN_OUT): fan out to batches that each fan out again`,
    { node, count: transition.outputs.length, limit: MAX_FAN_OUT },
  );
}

/**
 * Refuses a step whose outputs or events the store cannot hold (a final error, no retry): a
 * value JSON cannot represent exactly (InvalidOutput, naming where) or one over the size limit
 * (PayloadTooLarge).
 */
export function checkPayloads(
  maxBytes: number,
  node: string,
  values: readonly unknown[],
  what: "output" | "event" = "output",
): void {
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    const problem = unstorableReason(value, values.length === 1 ? what : `${what} ${i}`);
    if (problem !== null) {
      throw new FloxideError(
        "InvalidOutput",
        `node '${node}' produced a value the store cannot hold: ${problem}`,
        {
          node,
        },
      );
    }
    // Strings that cannot exceed the limit even at 3 bytes per character skip serialisation.
    if (typeof value === "string" && value.length * 3 + 2 <= maxBytes) continue;
    const bytes = Buffer.byteLength(JSON.stringify(value) ?? "null");
    if (bytes > maxBytes) {
      throw new FloxideError(
        "PayloadTooLarge",
        `node '${node}' produced a payload of ${bytes} bytes, over the limit of ${maxBytes} bytes (workflow maxPayloadBytes)`,
        { node, bytes, maxBytes },
      );
    }
  }
}

function failureOutcome(deps: StepDeps, item: WorkItem, error: unknown, durationMs: number): StepOutcome {
  // A thrown Error keeps where it was thrown (bounded); other thrown values only their description.
  const stack = errorStack(error);
  const info = { ...toErrorInfo(error, item.node), ...(stack === undefined ? {} : { stack }) };
  const policy = deps.workflow.policy(item.node);
  if (shouldRetry(policy, item.attempt, error)) {
    return { kind: "retry", error: info, delayMs: retryDelay(policy, item.attempt, deps.random), durationMs };
  }
  const fallbacks = edgesOf(deps.workflow.def, item.node).onFailure;
  const final = info.code === "UnknownRoute" || info.code === "Cancelled";
  if (fallbacks.length > 0 && !final) {
    const followUps = fallbacks.map((target) =>
      deps.workflow.newItem(item.runId, target, item.input, item.frames),
    );
    return { kind: "fallback", error: info, followUps, durationMs };
  }
  return { kind: "fail", error: info, deadLetter: !final, durationMs };
}

type Bindings = Record<string, string>;
function childLog(log: Logger, bindings: Bindings): Logger {
  const withChild = log as Logger & { child?: (b: Bindings) => Logger };
  return typeof withChild.child === "function" ? withChild.child(bindings) : log;
}
