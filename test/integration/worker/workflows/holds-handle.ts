// A workflow module that holds an open handle, as a database pool would: a module-level interval.
import { next, node, workflow } from "../../../../worker/sdk/index.ts";

setInterval(() => undefined, 1000);

const only = node<unknown, unknown>("only", (_ctx, input) => next(input));

export default workflow({ name: "holds-handle", version: "1", start: "only", nodes: [only], edges: {} });
