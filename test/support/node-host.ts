// What a test node changes on the host, and how it is put back: processes, mounts, cgroup
// folders, the bridge, the sysctls the kubelet and the CNI bridge plugin set, kube-proxy's and
// the kubelet's iptables chains, and files outside the node's root. Everything here is
// synchronous so that it also runs in a process "exit" handler (an interrupted run), and
// idempotent so that the next start can sweep what a killed run left.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Fixed, not random: the next run must find what an interrupted one left. */
export const NODE_ROOT = "/tmp/floxide-node";
export const BRIDGE = "flxbr0";
export const BRIDGE_ADDRESS = "10.244.0.1";
export const POD_CIDR = "10.244.0.0/24";
/** The kubelet's cgroupRoot: every pod cgroup lives below it, in every hierarchy. */
export const CGROUP_ROOT = "floxide-node";
export const CNI_NETWORK = "floxide-node";
export const CONTAINERD_SOCKET = join(NODE_ROOT, "containerd.sock");
/** The cache scripts/provision.sh fills (FLOXIDE_CACHE): images and BuildKit's layers live there too. */
export const CACHE_DIR = process.env.FLOXIDE_CACHE || join(homedir(), ".cache", "floxide-k8s");
/** BuildKit's cache (layers of earlier builds), kept between runs like Docker's; its mounts are not. */
export const BUILDKIT_ROOT = join(CACHE_DIR, "buildkit");
const SNAPSHOT = join(NODE_ROOT, "host-before.json");
/** Folders outside NODE_ROOT the node's processes run from (its control plane's temporary folder). */
const OWNED_PATHS = join(NODE_ROOT, "owned-paths.json");

/**
 * The sysctls the node changes: the kubelet sets the vm/kernel ones at start
 * (protectKernelDefaults off), the CNI bridge plugin turns on IPv4 forwarding.
 */
export const NODE_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/forwarding",
  "net/ipv4/conf/all/route_localnet",
  "net/netfilter/nf_conntrack_max",
] as const;

/** Paths outside NODE_ROOT that the kubelet, containerd's shims or CNI create when missing. */
const HOST_PATHS = ["/var/log/containers", "/var/log/pods", "/run/containerd", "/var/lib/cni"] as const;

interface HostSnapshot {
  sysctls: Record<string, string>;
  /** HOST_PATHS that did not exist before the node started: removed at teardown. */
  absentPaths: string[];
}

const run = (command: string, args: readonly string[]) =>
  spawnSync(command, args, { encoding: "utf8", timeout: 30_000 });

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(join("/proc/sys", key), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Records the host's state before the node changes it (once: a sweep restores the first one). */
export function recordHostState(): void {
  if (existsSync(SNAPSHOT)) return;
  const sysctls: Record<string, string> = {};
  for (const key of NODE_SYSCTLS) {
    const value = readSysctl(key);
    if (value !== undefined) sysctls[key] = value;
  }
  const snapshot: HostSnapshot = { sysctls, absentPaths: HOST_PATHS.filter((path) => !existsSync(path)) };
  writeFileSync(SNAPSHOT, JSON.stringify(snapshot));
}

/**
 * Records a folder outside NODE_ROOT whose processes belong to the node (its control plane runs
 * from a temporary folder of its own): a sweep after a SIGKILL kills them and removes the folder.
 */
export function recordOwnedPath(path: string): void {
  writeFileSync(OWNED_PATHS, JSON.stringify([...nodeOwnedPaths(), path]));
}

export function nodeOwnedPaths(): string[] {
  try {
    const paths = JSON.parse(readFileSync(OWNED_PATHS, "utf8")) as unknown;
    return Array.isArray(paths) ? paths.filter((path): path is string => typeof path === "string") : [];
  } catch {
    return [];
  }
}

function readSnapshot(): HostSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(SNAPSHOT, "utf8")) as HostSnapshot;
  } catch {
    return undefined;
  }
}

export function currentSysctls(): Record<string, string | undefined> {
  return Object.fromEntries(NODE_SYSCTLS.map((key) => [key, readSysctl(key)]));
}

/**
 * The sysctls as the running node found them, recorded under the node lock before it changed
 * any (undefined when no node has recorded them). A test's own reading taken before its node
 * holds the lock may see another run's node's values.
 */
export function recordedSysctls(): Record<string, string | undefined> | undefined {
  const snapshot = readSnapshot();
  return snapshot && Object.fromEntries(NODE_SYSCTLS.map((key) => [key, snapshot.sysctls[key]]));
}

// ---- processes

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

const allPids = (): string[] => readdirSync("/proc").filter((name) => /^\d+$/.test(name));

/**
 * Processes of the node: every command line naming NODE_ROOT (servers, shims) or a folder it
 * owns (its control plane), and pods' processes.
 */
export function nodeProcesses(
  owned: readonly string[] = nodeOwnedPaths(),
): { pid: number; command: string }[] {
  const inCgroups = new Set(cgroupPids());
  const roots = [NODE_ROOT, ...owned];
  return allPids()
    .filter(
      (pid) =>
        Number(pid) !== process.pid &&
        (roots.some((root) => cmdline(pid).includes(root)) || inCgroups.has(pid)),
    )
    .map((pid) => ({ pid: Number(pid), command: cmdline(pid).slice(0, 200) }))
    .filter((entry) => entry.command !== "");
}

/** containerd 1.6's shim socket: /run/containerd/s/sha256(<containerd address>/<namespace>/<id>). */
function shimSocket(command: string): string | undefined {
  const namespace = /-namespace (\S+)/.exec(command)?.[1];
  const id = /-id (\S+)/.exec(command)?.[1];
  if (!command.includes("containerd-shim") || !namespace || !id) return undefined;
  const digest = createHash("sha256")
    .update(join(CONTAINERD_SOCKET, namespace, id))
    .digest("hex");
  return `/run/containerd/s/${digest}`;
}

const pause = (ms: number): void => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) as never;

function killNodeProcesses(owned: readonly string[]): string[] {
  const killed: string[] = [];
  for (let round = 0; round < 100; round++) {
    const processes = nodeProcesses(owned);
    if (processes.length === 0) return killed;
    for (const { pid, command } of processes) {
      const socket = shimSocket(command);
      try {
        process.kill(pid, "SIGKILL");
        if (round === 0) killed.push(`process ${pid}: ${command}`);
      } catch {
        // Already gone.
      }
      if (socket) rmSync(socket, { force: true });
    }
    pause(100);
  }
  throw new Error(`node processes survive SIGKILL: ${JSON.stringify(nodeProcesses(owned))}`);
}

// ---- mounts

interface Mount {
  mountPoint: string;
  fsType: string;
}

function mounts(): Mount[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => {
      const fields = line.split(" ");
      const separator = fields.indexOf("-");
      const unescape = (text: string): string =>
        text.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
      return { mountPoint: unescape(fields[4] ?? ""), fsType: fields[separator + 1] ?? "" };
    });
}

/**
 * Mounts below NODE_ROOT (container root filesystems, shm, netns, the kubelet's volumes) and
 * below BUILDKIT_ROOT (a RUN step's root filesystem).
 */
export function nodeMounts(): string[] {
  return mounts()
    .map((mount) => mount.mountPoint)
    .filter((point) =>
      [NODE_ROOT, BUILDKIT_ROOT].some((root) => point === root || point.startsWith(`${root}/`)),
    );
}

function unmountAll(): string[] {
  const removed: string[] = [];
  for (let round = 0; round < 20; round++) {
    const points = nodeMounts().sort((a, b) => b.length - a.length);
    if (points.length === 0) return removed;
    for (const point of points) {
      // Lazy: a mount still busy is detached now and freed when its last user goes.
      const result = run("umount", ["--lazy", point]);
      if (result.status === 0 && !removed.includes(point)) removed.push(`mount ${point}`);
    }
  }
  throw new Error(`mounts of the test node cannot be removed: ${nodeMounts().join(", ")}`);
}

// ---- cgroups

/** The cgroup hierarchies mounted here (cgroup v1 controllers and the unified cgroup2). */
function cgroupMounts(): string[] {
  return mounts()
    .filter((mount) => mount.fsType === "cgroup" || mount.fsType === "cgroup2")
    .map((mount) => mount.mountPoint);
}

/** The node's cgroup folders that exist, one per hierarchy. */
export function nodeCgroups(): string[] {
  return cgroupMounts()
    .map((mountPoint) => join(mountPoint, CGROUP_ROOT))
    .filter((path) => existsSync(path));
}

function walkDirs(dir: string): string[] {
  let children: string[];
  try {
    children = readdirSync(dir)
      .map((name) => join(dir, name))
      .filter((path) => statSync(path).isDirectory());
  } catch {
    return [];
  }
  return [...children.flatMap(walkDirs), dir];
}

function cgroupPids(): string[] {
  return nodeCgroups()
    .flatMap(walkDirs)
    .flatMap((dir) => {
      try {
        return readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n");
      } catch {
        return [];
      }
    })
    .filter((pid) => pid.length > 0);
}

/** Creates the cgroup root in each hierarchy; cpuset needs its cpus and mems set before use. */
export function createCgroupRoot(): void {
  for (const mountPoint of cgroupMounts()) {
    const dir = join(mountPoint, CGROUP_ROOT);
    if (!existsSync(dir)) run("mkdir", ["-p", dir]);
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      const parent = join(mountPoint, file);
      if (existsSync(parent) && readFileSync(join(dir, file), "utf8").trim() === "") {
        writeFileSync(join(dir, file), readFileSync(parent, "utf8"));
      }
    }
  }
}

function removeCgroups(): string[] {
  const removed: string[] = [];
  for (const root of nodeCgroups()) {
    // Deepest first: a cgroup folder can only go once its children have.
    for (const dir of walkDirs(root)) {
      try {
        rmdirSync(dir);
        if (dir === root) removed.push(`cgroup ${dir}`);
      } catch (error) {
        throw new Error(`cannot remove cgroup ${dir}: ${(error as Error).message}`, { cause: error });
      }
    }
  }
  return removed;
}

// ---- network

/** Links of the node: the bridge and the host ends of pod veths attached to it. */
export function nodeLinks(): string[] {
  const result = run("ip", ["-o", "link", "show"]);
  return (result.stdout ?? "")
    .split("\n")
    .map((line) => /^\d+: ([^:@]+)[@:].*/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .filter((match) => match[1] === BRIDGE || match[0].includes(`master ${BRIDGE} `))
    .map((match) => match[1] ?? "");
}

export function createBridge(): void {
  const steps: string[][] = [
    ["link", "add", BRIDGE, "type", "bridge"],
    ["addr", "add", `${BRIDGE_ADDRESS}/24`, "dev", BRIDGE],
    ["link", "set", BRIDGE, "up"],
  ];
  for (const args of steps) {
    const result = run("ip", args);
    if (result.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${result.stderr}`);
  }
}

function removeLinks(): string[] {
  const links = nodeLinks();
  // Veths first, then the bridge.
  for (const link of [
    ...links.filter((name) => name !== BRIDGE),
    ...links.filter((name) => name === BRIDGE),
  ]) {
    run("ip", ["link", "del", link]);
  }
  const left = nodeLinks();
  if (left.length > 0) throw new Error(`cannot delete network links: ${left.join(", ")}`);
  return links.map((link) => `link ${link}`);
}

/** iptables chains and rules of kube-proxy (KUBE-*) and the kubelet (KUBE-KUBELET-CANARY...). */
export function nodeIptablesRules(): string[] {
  const result = run("iptables-save", []);
  if (result.status !== 0) return [];
  return (result.stdout ?? "").split("\n").filter((line) => /KUBE-|CNI-/.test(line));
}

function removeIptablesRules(kubeProxy: string | undefined): string[] {
  const before = nodeIptablesRules();
  if (before.length === 0) return [];
  if (kubeProxy && existsSync(kubeProxy)) run(kubeProxy, ["--cleanup", "--v=0"]);
  // Whatever kube-proxy does not own (the kubelet's canary chains): flush and delete by table.
  for (const table of ["filter", "nat", "mangle"]) {
    const chains = (run("iptables-save", ["-t", table]).stdout ?? "")
      .split("\n")
      .map((line) => /^:((?:KUBE|CNI)-\S+)/.exec(line)?.[1])
      .filter((chain): chain is string => chain !== undefined);
    const rules = (run("iptables-save", ["-t", table]).stdout ?? "")
      .split("\n")
      .filter((line) => line.startsWith("-A ") && /KUBE-|CNI-/.test(line));
    for (const rule of rules) run("iptables", ["-t", table, ...rule.replace(/^-A /, "-D ").split(" ")]);
    for (const chain of chains) run("iptables", ["-t", table, "-F", chain]);
    for (const chain of chains) run("iptables", ["-t", table, "-X", chain]);
  }
  const left = nodeIptablesRules();
  if (left.length > 0) throw new Error(`iptables rules left: ${left.join("; ")}`);
  return [`${before.length} iptables lines (KUBE-*/CNI-*)`];
}

// ---- sysctls and files

function restoreSysctls(snapshot: HostSnapshot | undefined): string[] {
  if (!snapshot) return [];
  const restored: string[] = [];
  for (const [key, value] of Object.entries(snapshot.sysctls)) {
    if (readSysctl(key) === value) continue;
    writeFileSync(join("/proc/sys", key), value);
    restored.push(`sysctl ${key.replaceAll("/", ".")} = ${value}`);
  }
  return restored;
}

function removeHostPaths(snapshot: HostSnapshot | undefined): string[] {
  const removed: string[] = [];
  for (const path of snapshot?.absentPaths ?? []) {
    if (!existsSync(path)) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(`path ${path}`);
  }
  // CNI result caches of our network, wherever /var/lib/cni came from.
  const cache = "/var/lib/cni/results";
  if (existsSync(cache)) {
    for (const name of readdirSync(cache).filter((file) => file.startsWith(`${CNI_NETWORK}-`))) {
      rmSync(join(cache, name), { force: true });
      removed.push(`file ${join(cache, name)}`);
    }
  }
  return removed;
}

/**
 * Puts the host back: kills the node's processes, unmounts, removes cgroup folders, iptables
 * chains, the bridge and files, restores sysctls, removes NODE_ROOT. Returns what it removed
 * (empty when the host was clean); throws, naming what is stuck, if something cannot go.
 */
export function sweepNode(kubeProxy?: string): string[] {
  const snapshot = readSnapshot();
  const owned = nodeOwnedPaths();
  const removed = [
    ...killNodeProcesses(owned),
    ...unmountAll(),
    ...removeCgroups(),
    ...removeIptablesRules(kubeProxy),
    ...removeLinks(),
    ...restoreSysctls(snapshot),
    ...removeHostPaths(snapshot),
    ...owned.filter((path) => existsSync(path)).map((path) => `path ${path}`),
  ];
  for (const path of owned) rmSync(path, { recursive: true, force: true });
  if (existsSync(NODE_ROOT)) {
    // Mounts are gone; a lazily detached one no longer pins its folder.
    rmSync(NODE_ROOT, { recursive: true, force: true });
  }
  return removed;
}

/**
 * What of the node is still on the host: empty after a clean teardown. `owned`: the folders the
 * node recorded (nodeOwnedPaths(), read before a sweep removes the record).
 */
export function nodeLeftovers(
  sysctlsBefore: Record<string, string | undefined>,
  owned: readonly string[] = nodeOwnedPaths(),
): string[] {
  const now = currentSysctls();
  return [
    ...nodeProcesses(owned).map((entry) => `process ${entry.pid}: ${entry.command}`),
    ...nodeMounts().map((point) => `mount ${point}`),
    ...nodeCgroups().map((dir) => `cgroup ${dir}`),
    ...nodeLinks().map((link) => `link ${link}`),
    ...nodeIptablesRules().map((rule) => `iptables ${rule}`),
    ...Object.entries(sysctlsBefore)
      .filter(([key, value]) => now[key] !== value)
      .map(([key, value]) => `sysctl ${key} = ${now[key]} (was ${value})`),
    ...[NODE_ROOT, ...owned].filter((path) => existsSync(path)).map((path) => `path ${path}`),
  ];
}
