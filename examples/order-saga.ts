/**
 * An order saga: reserve stock, charge the card, ship. When the charge fails for good, the
 * `onFailure` edge runs the compensation (release the stock) with the charge's original input.
 * Routing by tag sends rejected orders straight to `reject`.
 */
import { abort, next, node, tagged, workflow } from "../worker/sdk/index.ts";

export interface Order {
  readonly id: string;
  readonly amount: number;
  readonly card: string;
}

type SagaEvent = { type: "reserved" | "charged" | "released" | "shipped"; order: string };

const validate = node<Order, ReturnType<typeof tagged>>(
  "validate",
  (_ctx, order) => next(order.amount > 0 ? tagged("valid", order) : tagged("invalid", order)),
  { tags: ["valid", "invalid"] },
);
const reserve = node<Order, Order, unknown, SagaEvent>("reserve", (ctx, order) => {
  ctx.emit({ type: "reserved", order: order.id });
  return next(order);
});
const charge = node<Order, Order, unknown, SagaEvent>(
  "charge",
  (ctx, order) => {
    if (order.card === "declined") throw new Error(`card declined for order ${order.id}`);
    ctx.emit({ type: "charged", order: order.id });
    return next(order);
  },
  { retry: { maxAttempts: 2, initialDelayMs: 5 } },
);
const ship = node<Order, { order: string; status: string }, unknown, SagaEvent>("ship", (ctx, order) => {
  ctx.emit({ type: "shipped", order: order.id });
  return next({ order: order.id, status: "shipped" });
});
const release = node<Order, { order: string; status: string }, unknown, SagaEvent>(
  "release",
  (ctx, order) => {
    ctx.emit({ type: "released", order: order.id });
    return next({ order: order.id, status: "compensated" });
  },
);
const reject = node<Order, never>("reject", (_ctx, order) =>
  abort(`order ${order.id} has a non-positive amount`),
);

export const orderSaga = workflow<unknown, SagaEvent>({
  name: "order-saga",
  version: "1",
  start: "validate",
  nodes: [validate, reserve, charge, ship, release, reject],
  edges: {
    validate: { routes: { valid: ["reserve"], invalid: ["reject"] } },
    reserve: ["charge"],
    charge: { to: ["ship"], onFailure: ["release"] },
  },
});

export default orderSaga;
