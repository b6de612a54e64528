/** Error codes shared by every part of floxide. Errors are values with a code and context. */
export type ErrorCode =
  | "InvalidWorkflow"
  | "InvalidInput"
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
  | "PayloadTooLarge";

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
}

export function toErrorInfo(error: unknown, node?: string): ErrorInfo {
  const base =
    error instanceof FloxideError
      ? { code: error.code, message: error.message }
      : error instanceof Error
        ? { code: error.name || "Error", message: error.message }
        : { code: "Error", message: String(error) };
  return node === undefined ? base : { ...base, node };
}
