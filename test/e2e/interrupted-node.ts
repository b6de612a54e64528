// Started by e2e.test.ts as a child process: starts the test node and a pod, says "ready" and
// waits to be interrupted, as CI or a developer's Ctrl-C would (SIGTERM: the node's exit hook
// puts the host back) or killed (SIGKILL: nothing runs; the cleanup command or the next start
// sweeps). The parent checks nothing is left.
import { execFileSync } from "node:child_process";
import { pauseImage } from "../support/base-images.ts";
import { startTestNode } from "../support/node.ts";

const node = await startTestNode({ sandboxImage: await pauseImage() });
const { kubectl } = node.controlPlane.binaries;
const k = (...args: string[]): string =>
  execFileSync(kubectl, ["--kubeconfig", node.controlPlane.kubeconfigPath, ...args], { encoding: "utf8" });
k("run", "sleeper", "--image=localhost/floxide-pause:1", "--image-pull-policy=Never");
k("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=60s");
process.stdout.write("ready\n");
setInterval(() => undefined, 60_000);
