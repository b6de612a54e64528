// A one-node Kubernetes cluster for the end-to-end tests: the real control plane
// (control-plane.ts, bound to the node's bridge address) plus containerd (its own config, root,
// state and socket), a CNI bridge, the kubelet, kube-scheduler, kube-proxy and a cluster DNS.
// One per machine (the bridge, cgroups and sysctls are global), started once per test run by
// the e2e suite. stop() removes everything it made; so does the next start after a run that
// was killed, and a process "exit" hook after one that was interrupted (node-host.ts).
// With FLOXIDE_USE_EXISTING_CLUSTER=1 the cluster named by $KUBECONFIG is used instead.
// Facts and pitfalls: docs/kubernetes-tests.md, "Real pods".
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api } from "@kubernetes/client-node";
import { stringify as toYaml } from "yaml";
import type { OciLayout } from "./base-images.ts";
import { startClusterDns, type ClusterDns } from "./cluster-dns.ts";
import { assetDirectories, logTails, startControlPlane, type ControlPlane } from "./control-plane.ts";
import {
  BRIDGE,
  BRIDGE_ADDRESS,
  CGROUP_ROOT,
  CNI_NETWORK,
  CONTAINERD_SOCKET,
  createBridge,
  createCgroupRoot,
  NODE_ROOT,
  POD_CIDR,
  recordHostState,
  recordOwnedPath,
  sweepNode,
} from "./node-host.ts";
import { lockNode } from "./node-lock.ts";
import { spawnLogged, terminate, type ManagedProcess } from "./processes.ts";
import { waitFor } from "./wait.ts";

const run = promisify(execFile);
export const NODE_NAME = "floxide-node";
const CNI_BIN_DIR = "/usr/lib/cni";

export interface NodeBinaries {
  kubelet: string;
  kubeScheduler: string;
  kubeProxy: string;
  containerd: string;
  ctr: string;
}

export interface TestNode {
  controlPlane: ControlPlane;
  /** Where pods reach the host: the bridge address (the API server, test Redis servers). */
  hostAddress: string;
  /** False on kind/k3d (FLOXIDE_USE_EXISTING_CLUSTER=1): images are loaded with $FLOXIDE_LOAD_IMAGE. */
  local: boolean;
  /** `ctr` against the node's containerd, in the k8s.io namespace. */
  ctr(...args: string[]): Promise<string>;
  /** Imports an image (an OCI layout) so pods use it without a pull, under its full name. */
  importImage(layout: OciLayout): Promise<void>;
  /** The end of each process's log, for a failing test. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

/** Something the node needs is missing: the message says what to install or run. */
export class NodeCannotStart extends Error {
  readonly code = "NodeCannotStart";
}

function which(name: string, dirs: readonly string[]): string | undefined {
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

/** Why a node cannot start here (undefined when it can): the e2e suite's skip reason. */
export function whyNodeCannotStart(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.FLOXIDE_USE_EXISTING_CLUSTER === "1") return undefined;
  try {
    nodeBinaries(env);
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

export function nodeBinaries(env: NodeJS.ProcessEnv = process.env): NodeBinaries {
  if (process.platform !== "linux" || process.getuid?.() !== 0) {
    throw new NodeCannotStart("a test node needs Linux and root (kubelet, containerd, bridge, cgroups)");
  }
  const assets = assetDirectories(env);
  const system = ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/sbin"];
  const found = {
    kubelet: which("kubelet", assets),
    kubeScheduler: which("kube-scheduler", assets),
    kubeProxy: which("kube-proxy", assets),
    containerd: which("containerd", system),
    ctr: which("ctr", system),
  };
  const missing = Object.entries(found)
    .filter(([, path]) => path === undefined)
    .map(([name]) => name);
  const tools = ["runc", "containerd-shim-runc-v2", "iptables", "umoci", "debootstrap", "ip"].filter(
    (tool) => which(tool, system) === undefined,
  );
  if (!existsSync(join(CNI_BIN_DIR, "bridge"))) tools.push("CNI plugins (/usr/lib/cni/bridge)");
  if (missing.length > 0 || tools.length > 0) {
    throw new NodeCannotStart(
      `a test node needs ${[...missing, ...tools].join(", ")}: run \`bash scripts/provision.sh k8s k8s-node\` ` +
        "(kubelet, kube-scheduler and kube-proxy from test/k8s/assets.sh; Debian's containerd runc " +
        "containernetworking-plugins umoci debootstrap busybox-static iptables iproute2). See docs/kubernetes-tests.md.",
    );
  }
  return found as NodeBinaries;
}

interface NodeProcesses {
  list: ManagedProcess[];
  crashed: AbortController;
}

function startProcess(processes: NodeProcesses, name: string, binary: string, args: string[]): void {
  const managed = spawnLogged(name, binary, args, NODE_ROOT);
  processes.list.push(managed);
  void managed.exited.then(() =>
    processes.crashed.abort(
      new NodeCannotStart(
        `${name} exited (${managed.child.exitCode ?? managed.child.signalCode}); log: ${managed.logPath}`,
      ),
    ),
  );
}

function containerdConfig(sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${NODE_ROOT}/containerd"
state = "${NODE_ROOT}/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "${CONTAINERD_SOCKET}"
[ttrpc]
  address = "${CONTAINERD_SOCKET}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${NODE_ROOT}/opt"
[${cri}]
  sandbox_image = "${sandboxImage}"
  # The CRI gives pause oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE, not granted here.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        Root = "${NODE_ROOT}/runc"
  [${cri}.cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${NODE_ROOT}/cni"
`;
}

/** The pod network: the bridge made beforehand, host-local addresses, no masquerade (no way out). */
function cniConfig(): string {
  return JSON.stringify({
    cniVersion: "0.4.0",
    name: CNI_NETWORK,
    plugins: [
      {
        type: "bridge",
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: POD_CIDR, gateway: BRIDGE_ADDRESS }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: join(NODE_ROOT, "cni-ipam"),
        },
      },
      { type: "loopback" },
    ],
  });
}

function kubeletConfig(ports: { kubelet: number; healthz: number }): string {
  return toYaml({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    cgroupDriver: "cgroupfs",
    cgroupRoot: `/${CGROUP_ROOT}`,
    failSwapOn: false,
    failCgroupV1: false,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    address: BRIDGE_ADDRESS,
    port: ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: ports.healthz,
    // Test only: the API server calls the kubelet (logs, exec) without client certificates.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    clusterDNS: [BRIDGE_ADDRESS],
    clusterDomain: "cluster.local",
    podLogsDir: join(NODE_ROOT, "pod-logs"),
    // Locally imported images cannot be pulled again: never collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    makeIPTablesUtilChains: false,
    serializeImagePulls: false,
    shutdownGracePeriod: "0s",
  });
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

let exitHookInstalled = false;
/** An interrupted run (SIGINT/SIGTERM, or an exit without stop()) still puts the host back. */
function sweepOnExit(kubeProxy: string, releaseLock: () => void): () => void {
  const onExit = (): void => {
    try {
      sweepNode(kubeProxy);
      releaseLock();
    } catch (error) {
      process.stderr.write(`test node: cleanup on exit failed: ${(error as Error).message}\n`);
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    onExit();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", onExit);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return () => {
    exitHookInstalled = false;
    process.removeListener("exit", onExit);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
}

export interface StartNodeOptions {
  /** The pods' sandbox image (base-images.ts pauseImage()). */
  sandboxImage: OciLayout;
  env?: NodeJS.ProcessEnv;
  /** Deadline for each stage (default 60 s). */
  timeoutMs?: number;
  /** Progress lines (stage and seconds), e.g. to the test's diagnostic output. */
  log?: (line: string) => void;
}

export async function startTestNode(options: StartNodeOptions): Promise<TestNode> {
  const env = options.env ?? process.env;
  if (env.FLOXIDE_USE_EXISTING_CLUSTER === "1") return existingClusterNode(env);
  const binaries = nodeBinaries(env);
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const step = (what: string): void => log(`${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  // Before the sweep: it kills whatever runs under NODE_ROOT, another run's node included.
  const lock = await lockNode({ env, log });
  try {
    const left = sweepNode(binaries.kubeProxy);
    if (left.length > 0) log(`removed what an earlier run left: ${left.join("; ")}`);
    await mkdir(NODE_ROOT, { recursive: true });
    recordHostState();
  } catch (error) {
    lock.release();
    throw error;
  }
  const releaseExitHook = sweepOnExit(binaries.kubeProxy, lock.release);
  const processes: NodeProcesses = { list: [], crashed: new AbortController() };
  let controlPlane: ControlPlane | undefined;
  let dns: ClusterDns | undefined;
  const stop = async (): Promise<void> => {
    await dns?.close();
    for (const managed of [...processes.list].reverse()) await terminate(managed);
    await controlPlane?.stop();
    sweepNode(binaries.kubeProxy);
    releaseExitHook();
    lock.release();
  };
  const wait = { timeoutMs: options.timeoutMs ?? 60_000, signal: processes.crashed.signal };
  const ctr = async (...args: string[]): Promise<string> =>
    (
      await run(binaries.ctr, ["--address", CONTAINERD_SOCKET, "--namespace", "k8s.io", ...args], {
        maxBuffer: 16 << 20,
      })
    ).stdout;
  try {
    createBridge();
    createCgroupRoot();
    controlPlane = await startControlPlane({ env, address: BRIDGE_ADDRESS });
    // Its servers run from a temporary folder outside NODE_ROOT: a sweep after SIGKILL finds them by it.
    recordOwnedPath(dirname(controlPlane.kubeconfigPath));
    step("control plane ready");
    const kubeconfig = join(NODE_ROOT, "admin.kubeconfig");
    await writeFile(kubeconfig, toYaml(JSON.parse(controlPlane.kubeConfig.exportConfig())), { mode: 0o600 });

    await mkdir(join(NODE_ROOT, "cni"), { recursive: true });
    await writeFile(join(NODE_ROOT, "cni", "10-floxide.conflist"), cniConfig());
    await writeFile(join(NODE_ROOT, "containerd.toml"), containerdConfig(options.sandboxImage.name));
    startProcess(processes, "containerd", binaries.containerd, [
      "--config",
      join(NODE_ROOT, "containerd.toml"),
    ]);
    await waitFor(async () => (await ctr("version"), true), {
      ...wait,
      intervalMs: 100,
      message: "containerd to answer",
    });
    await importLayout(ctr, options.sandboxImage);
    step("containerd ready, pause image imported");

    dns = await startClusterDns(controlPlane.kubeConfig, BRIDGE_ADDRESS);
    const ports = { kubelet: await freePort(), healthz: await freePort() };
    await writeFile(join(NODE_ROOT, "kubelet.yaml"), kubeletConfig(ports));
    startProcess(processes, "kubelet", binaries.kubelet, [
      `--config=${join(NODE_ROOT, "kubelet.yaml")}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${join(NODE_ROOT, "kubelet")}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${BRIDGE_ADDRESS}`,
      "--v=1",
    ]);
    startProcess(processes, "kube-scheduler", binaries.kubeScheduler, [
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      "--secure-port=0",
    ]);
    startProcess(processes, "kube-proxy", binaries.kubeProxy, [
      `--kubeconfig=${kubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      "--proxy-mode=iptables",
      `--cluster-cidr=${POD_CIDR}`,
      // Leave the host's conntrack sysctls and route_localnet alone.
      "--conntrack-max-per-core=0",
      "--conntrack-tcp-timeout-established=0",
      "--conntrack-tcp-timeout-close-wait=0",
      "--iptables-localhost-nodeports=false",
      `--metrics-bind-address=127.0.0.1:${await freePort()}`,
      `--healthz-bind-address=127.0.0.1:${await freePort()}`,
    ]);
    const core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    await waitFor(
      async () => {
        const node = await core.readNode({ name: NODE_NAME });
        return node.status?.conditions?.find((condition) => condition.type === "Ready")?.status === "True";
      },
      { ...wait, intervalMs: 200, message: `node ${NODE_NAME} to register and be Ready` },
    );
    step("node Ready");
    await waitFor(
      async () => (await run("iptables-save", ["-t", "nat"])).stdout.includes("default/kubernetes:https"),
      { ...wait, intervalMs: 200, message: "kube-proxy to program the kubernetes Service" },
    );
    step("kube-proxy synced");
  } catch (error) {
    const tails = processes.list.length > 0 ? tailsOf(processes.list, 30) : "";
    await stop().catch(() => undefined);
    throw new NodeCannotStart(`the test node did not start: ${(error as Error).message}\n${tails}`, {
      cause: error,
    });
  }
  const cp = controlPlane;
  return {
    controlPlane: cp,
    hostAddress: BRIDGE_ADDRESS,
    local: true,
    ctr,
    importImage: (layout) => importLayout(ctr, layout),
    // The pods' own logs too (the operator's scale decisions, the workers' readiness), while the
    // kubelet still has them: a pod deleted by the test takes its log with it.
    logTails: (lines = 40) =>
      `${tailsOf(processes.list, lines)}\n${logTails(cp, lines)}\n${logTails({ logFiles: podLogFiles() }, lines)}`,
    stop,
  };
}

/** `ctr images import` of a layout's tag, named `<repository>:<tag>` (umoci writes the tag alone). */
async function importLayout(ctr: (...args: string[]) => Promise<string>, layout: OciLayout): Promise<void> {
  const tarball = join(NODE_ROOT, `import-${process.pid}-${Date.now()}.tar`);
  try {
    await run("tar", ["-C", layout.dir, "-cf", tarball, "."]);
    const repository = layout.name.slice(0, layout.name.lastIndexOf(":"));
    await ctr("images", "import", `--base-name=${repository}`, tarball);
  } finally {
    await rm(tarball, { force: true });
  }
  const listed = await ctr("images", "list", "--quiet");
  if (!listed.split("\n").includes(layout.name)) {
    throw new Error(
      `ctr images import did not create ${layout.name} (it has: ${listed.trim().replaceAll("\n", ", ")})`,
    );
  }
}

/** Every container log file the kubelet keeps (pod-logs/<namespace>_<pod>_<uid>/<container>/<n>.log). */
function podLogFiles(): { process: string; path: string }[] {
  const dir = join(NODE_ROOT, "pod-logs");
  try {
    return readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".log"))
      .sort()
      .map((file) => ({ process: `pod ${file}`, path: join(dir, file) }));
  } catch {
    return [];
  }
}

function tailsOf(processes: readonly ManagedProcess[], lines: number): string {
  return logTails(
    { logFiles: processes.map((managed) => ({ process: managed.name, path: managed.logPath })) },
    lines,
  );
}

/** Names what FLOXIDE_USE_EXISTING_CLUSTER=1 needs besides KUBECONFIG (docs/kubernetes-tests.md). */
export const HOST_ADDRESS_ENV = "FLOXIDE_HOST_ADDRESS";
export const LOAD_IMAGE_ENV = "FLOXIDE_LOAD_IMAGE";

async function existingClusterNode(env: NodeJS.ProcessEnv): Promise<TestNode> {
  const hostAddress = env[HOST_ADDRESS_ENV] ?? "";
  if (isIP(hostAddress) === 0) {
    throw new NodeCannotStart(
      `FLOXIDE_USE_EXISTING_CLUSTER=1 needs ${HOST_ADDRESS_ENV}: an IP address of this machine that the ` +
        `cluster's pods reach (the suite's Redis binds it); got ${JSON.stringify(hostAddress)}. For kind: ` +
        `docker network inspect kind -f '{{(index .IPAM.Config 0).Gateway}}'`,
    );
  }
  const loadCommand = env[LOAD_IMAGE_ENV] ?? "";
  if (loadCommand.trim() === "") {
    throw new NodeCannotStart(
      `FLOXIDE_USE_EXISTING_CLUSTER=1 needs ${LOAD_IMAGE_ENV}: the command that loads an image archive ` +
        `(an OCI tarball, {} in the command) into the cluster, e.g. 'kind load image-archive {} --name floxide' ` +
        `or 'k3d image import {} -c floxide'`,
    );
  }
  const controlPlane = await startControlPlane({ env });
  return {
    controlPlane,
    hostAddress,
    local: false,
    ctr: async () => {
      throw new Error("FLOXIDE_USE_EXISTING_CLUSTER=1: no local containerd (use the cluster's own tools)");
    },
    importImage: (layout) => loadIntoCluster(loadCommand, layout),
    logTails: () => "(an existing cluster: see its own logs)",
    stop: () => controlPlane.stop(),
  };
}

/**
 * Writes the layout as an OCI archive naming the image in full (io.containerd.image.name, which
 * `ctr images import`, `kind load image-archive` and `k3d image import` read) and runs the
 * user's load command on it.
 */
async function loadIntoCluster(command: string, layout: OciLayout): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "floxide-image-"));
  try {
    const index = JSON.parse(await readFile(join(layout.dir, "index.json"), "utf8")) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    const manifests = index.manifests
      .filter((manifest) => manifest.digest === layout.digest)
      .map((manifest) => ({
        ...manifest,
        annotations: { ...manifest.annotations, "io.containerd.image.name": layout.name },
      }));
    const tree = join(work, "layout");
    await mkdir(tree);
    await writeFile(join(tree, "index.json"), JSON.stringify({ ...index, manifests }));
    await copyFile(join(layout.dir, "oci-layout"), join(tree, "oci-layout"));
    await symlink(join(layout.dir, "blobs"), join(tree, "blobs"));
    const archive = join(work, "image.tar");
    // -h: the blobs through the link.
    await run("tar", ["-C", tree, "-chf", archive, "."]);
    const shell = command.includes("{}") ? command.replaceAll("{}", '"$1"') : `${command} "$1"`;
    await run("bash", ["-euo", "pipefail", "-c", shell, "load-image", archive], { maxBuffer: 16 << 20 });
  } catch (error) {
    throw new Error(`${LOAD_IMAGE_ENV} could not load ${layout.name}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
