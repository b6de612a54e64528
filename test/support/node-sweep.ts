// The cleanup command for a test node whose run was killed (SIGKILL: no exit hook ran):
//   node scripts/run.mjs test/support/node-sweep.ts
// Takes the machine's node lock first (a live run's node is never swept: it says whose it is),
// then removes what the node left (node-host.ts sweepNode: processes, mounts, cgroup folders,
// iptables chains, the bridge, sysctls, files) and prints each thing it removed.
// The next test-node start does the same by itself; this is for leaving the host clean now.
import { lockNode } from "./node-lock.ts";
import { sweepNode } from "./node-host.ts";
import { nodeBinaries } from "./node.ts";

const HELP = `Usage: node scripts/run.mjs test/support/node-sweep.ts

Removes what a killed e2e run's test node left on this machine (processes, mounts under
/tmp/floxide-node, the floxide-node cgroup folders, KUBE-*/CNI-* iptables chains, the flxbr0
bridge and its veths) and restores the sysctls the node changed. Refuses while a live test run
holds the node lock. Needs root. Exit 0 when the host is clean afterwards.`;

async function main(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (args.length > 0) {
    process.stderr.write(`node-sweep: unexpected arguments: ${args.join(" ")}\n\n${HELP}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write("node-sweep: needs root (the node's processes, mounts and cgroups are root's)\n");
    return 1;
  }
  const lock = await lockNode({ timeoutMs: 0, log: (line) => process.stdout.write(`${line}\n`) });
  try {
    let kubeProxy: string | undefined;
    try {
      kubeProxy = nodeBinaries().kubeProxy;
    } catch {
      // Without kube-proxy its chains are flushed and deleted table by table.
    }
    const removed = sweepNode(kubeProxy);
    process.stdout.write(
      removed.length === 0 ? "nothing left by a test node\n" : `removed:\n  ${removed.join("\n  ")}\n`,
    );
    return 0;
  } finally {
    lock.release();
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`node-sweep: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
