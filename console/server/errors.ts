/** The HTTP status of a store error, and the body every failed API call answers with. */
import { FloxideError } from "../../worker/sdk/index.ts";

const STATUS: Partial<Record<FloxideError["code"], number>> = {
  RunNotFound: 404,
  DeadLetterNotFound: 404,
  RunFinished: 409,
  InvalidInput: 400,
  InvalidItem: 409,
  StoreUnavailable: 503,
};

export interface ErrorBody {
  readonly error: string;
  readonly code: string;
}

export function httpError(error: unknown): { status: number; body: ErrorBody } {
  if (error instanceof FloxideError) {
    return { status: STATUS[error.code] ?? 500, body: { error: error.message, code: error.code } };
  }
  return {
    status: 500,
    body: { error: error instanceof Error ? error.message : String(error), code: "Internal" },
  };
}
