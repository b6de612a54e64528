// Starts the test node (test/support/node.ts) and keeps it up until Ctrl-C/SIGTERM, printing
// the environment that points the e2e suite at it as an existing cluster:
//   node scripts/run.mjs test/e2e/serve-node.ts
// That is how FLOXIDE_USE_EXISTING_CLUSTER=1 (the kind/k3d path) is exercised on a machine
// without kind: the suite then loads its images with $FLOXIDE_LOAD_IMAGE, as it would on kind.
import { pauseImage } from "../support/base-images.ts";
import { CONTAINERD_SOCKET } from "../support/node-host.ts";
import { HOST_ADDRESS_ENV, LOAD_IMAGE_ENV, nodeBinaries, startTestNode } from "../support/node.ts";

const HELP = `Usage: node scripts/run.mjs test/e2e/serve-node.ts

Starts the e2e suite's one-node cluster (root; test/k8s/assets.sh and scripts/provision.sh k8s-node
installed), prints the environment that runs the suite against it as an existing cluster, and keeps
it up until interrupted (Ctrl-C or SIGTERM take it down and put the host back).`;

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(`${HELP}\n`);
} else {
  const log = (line: string): void => void process.stderr.write(`serve-node: ${line}\n`);
  const node = await startTestNode({ sandboxImage: await pauseImage(), log });
  const ctr = `${nodeBinaries().ctr} --address ${CONTAINERD_SOCKET} --namespace k8s.io images import {}`;
  process.stdout.write(
    [
      `export FLOXIDE_USE_EXISTING_CLUSTER=1`,
      `export KUBECONFIG=${node.controlPlane.kubeconfigPath}`,
      `export ${HOST_ADDRESS_ENV}=${node.hostAddress}`,
      `export ${LOAD_IMAGE_ENV}='${ctr}'`,
      "ready",
      "",
    ].join("\n"),
  );
  // Until a signal: the node's exit hook takes it down.
  setInterval(() => undefined, 60_000);
}
