/**
 * e2e workflow that imports a package of the image's own (ms, in package.json here), installed
 * by the deps build stage of the Dockerfile next to it: the image's /app/node_modules merged with
 * the worker base's must resolve both it and floxide-k8s. Its node's name is made by ms, so
 * `floxide graph` printing `wait-1m` shows the package loaded and ran.
 */
import ms from "ms";
import { next, node, workflow } from "floxide-k8s/worker/sdk";

const wait = node(`wait-${ms(60_000)}`, async (_ctx, input) => next(input));

export default workflow({ name: "deps", version: "1", start: wait.name, nodes: [wait] });
