// Started by e2e.test.ts as a child process: starts the test node and a pod, says "ready" and
// waits to be interrupted (SIGTERM), as CI or a developer's Ctrl-C would. The node's exit hook
// must then put the host back; the parent checks nothing is left.
import { pauseImage } from "../support/base-images.ts";
import { startTestNode } from "../support/node.ts";

const node = await startTestNode({ sandboxImage: await pauseImage() });
const { kubectl, kubeconfigPath } = {
  kubectl: node.controlPlane.binaries.kubectl,
  kubeconfigPath: node.controlPlane.kubeconfigPath,
};
const { execFileSync } = await import("node:child_process");
const k = (...args: string[]): string =>
  execFileSync(kubectl, ["--kubeconfig", kubeconfigPath, ...args], { encoding: "utf8" });
k("run", "sleeper", "--image=localhost/floxide-pause:1", "--image-pull-policy=Never");
k("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s");
process.stdout.write("ready\n");
setInterval(() => undefined, 60_000);
