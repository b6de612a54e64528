/** Error codes shared by every part of floxide. Errors are values with a code and context. */
export type ErrorCode =
  | "InvalidWorkflow"
  | "InvalidInput"
  | "InvalidOutput"
  | "InvalidConfig"
  | "UnknownRoute"
  | "Aborted"
  | "StepTimeout"
  | "WaitTimeout"
  | "Cancelled"
  | "LeaseLost"
  | "RunNotFound"
  | "RunFinished"
  | "StoreUnavailable"
  | "InvalidItem"
  | "ReducerFailed"
  | "JoinIncomplete"
  | "NodeFailed"
  | "PayloadTooLarge"
  | "DeadLetterNotFound";

export class FloxideError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = code;
    this.code = code;
    this.details = details;
  }
}

/** The serialisable form of an error, as stored in run info, item state and the error store. */
export interface ErrorInfo {
  code: string;
  message: string;
  node?: string;
  /** The first lines of a thrown Error's stack (errorStack's bounds); never set for other values. */
  stack?: string;
}

/** Bounds of a recorded stack: it is stored with every error record, so it stays small. */
export const STACK_MAX_LINES = 20;
export const STACK_MAX_CHARS = 4096;

/**
 * The stack of a thrown Error, cut to its first STACK_MAX_LINES lines and STACK_MAX_CHARS
 * characters; undefined for any other thrown value (its readable description is the message)
 * and for an Error whose stack is not a string or cannot be read. Total, like describeThrown.
 */
export function errorStack(error: unknown): string | undefined {
  let stack: unknown;
  try {
    if (!(error instanceof Error)) return undefined;
    stack = error.stack;
  } catch {
    return undefined; // a Proxy whose traps throw, or a throwing `stack` getter
  }
  if (typeof stack !== "string" || stack === "") return undefined;
  const lines = stack.split("\n", STACK_MAX_LINES + 1);
  const cut = lines.length > STACK_MAX_LINES ? `${lines.slice(0, STACK_MAX_LINES).join("\n")}\n    …` : stack;
  return cut.length > STACK_MAX_CHARS ? `${cut.slice(0, STACK_MAX_CHARS - 1)}…` : cut;
}

export function toErrorInfo(error: unknown, node?: string): ErrorInfo {
  const base = describeThrown(error);
  return node === undefined ? base : { ...base, node };
}

/**
 * Any thrown value as a code and message. Total: a Proxy whose traps throw, an object without a
 * prototype or an Error whose getters throw still gives a readable error (never an exception).
 */
function describeThrown(error: unknown): ErrorInfo {
  const read = (get: () => unknown): string | undefined => {
    try {
      return String(get());
    } catch {
      return undefined;
    }
  };
  let kind: "floxide" | "error" | "other";
  try {
    kind = error instanceof FloxideError ? "floxide" : error instanceof Error ? "error" : "other";
  } catch {
    kind = "other"; // a Proxy whose getPrototypeOf trap throws
  }
  if (kind !== "other") {
    const e = error as Error & { code?: unknown };
    const code = (kind === "floxide" ? read(() => e.code) : read(() => e.name)) || "Error";
    return { code, message: read(() => e.message) ?? "(an Error whose message cannot be read)" };
  }
  if (typeof error !== "object" || error === null) {
    return { code: "Error", message: read(() => error) ?? typeof error };
  }
  let shown: string | undefined;
  try {
    shown = JSON.stringify(error);
  } catch {
    shown = undefined;
  }
  shown ??= read(() => Object.prototype.toString.call(error)) ?? typeof error;
  return { code: "Error", message: `a thrown value that is not an Error: ${shown}` };
}
