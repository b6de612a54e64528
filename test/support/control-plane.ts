// A real Kubernetes control plane for tests, started the way controller-runtime's envtest does
// it: etcd + kube-apiserver, plus kube-controller-manager so that Deployments get ReplicaSets
// and Pods and ownerReferences are garbage-collected. There is no scheduler and no kubelet:
// Pods stay Pending. Binaries come from $KUBEBUILDER_ASSETS or the cache that
// test/k8s/assets.sh fills. With FLOXIDE_USE_EXISTING_CLUSTER=1 the cluster named by
// $KUBECONFIG (kind, k3d, ...) is used instead and nothing is started.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer, type AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig, type User } from "@kubernetes/client-node";
import { stringify as toYaml } from "yaml";
import { signalGroup, spawnLogged, terminate, type ManagedProcess } from "./processes.ts";
import { waitFor } from "./wait.ts";

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  helm: string;
}

export interface ControlPlane {
  /** Cluster admin (group system:masters on the local control plane). */
  kubeConfig: KubeConfig;
  /** A kubeconfig file for the admin, for `kubectl --kubeconfig` and `helm --kubeconfig`. */
  kubeconfigPath: string;
  /** kubectl and helm always; the server binaries only when this harness started them. */
  binaries: Pick<ControlPlaneBinaries, "kubectl" | "helm"> & Partial<ControlPlaneBinaries>;
  /** True when the cluster came from $KUBECONFIG (pods may really run there). */
  existingCluster: boolean;
  /** A KubeConfig that acts as the ServiceAccount, through impersonation by the admin. */
  kubeConfigFor(serviceAccount: ServiceAccountRef): KubeConfig;
  /** Stops every process and removes the temporary directory; safe to call twice. */
  stop(): Promise<void>;
  /** The log file of each process started (empty for an existing cluster); see logTails. */
  logFiles: readonly LogFile[];
}

export interface LogFile {
  process: string;
  path: string;
}

export interface StartOptions {
  /** Deadline for the API server to report /readyz ok (default 60 s). */
  startTimeoutMs?: number;
  /** Environment to read the asset locations and the existing-cluster switch from. */
  env?: NodeJS.ProcessEnv;
  /**
   * The address kube-apiserver binds and advertises (default 127.0.0.1). A test node
   * (test/support/node.ts) passes its bridge address, so that pods reach the API server through
   * the `kubernetes` Service and the API server reaches the kubelet.
   */
  address?: string;
}

/** The binaries are not there: the message says how to get them. */
export class ControlPlaneAssetsMissing extends Error {
  readonly code = "ControlPlaneAssetsMissing";
}

/** A process died or /readyz never became ok; the message carries the log tails. */
export class ControlPlaneStartFailed extends Error {
  readonly code = "ControlPlaneStartFailed";
}

const logFilesOf = (processes: readonly ManagedProcess[]): LogFile[] =>
  processes.map((managed) => ({ process: managed.name, path: managed.logPath }));

const ASSETS_SCRIPT = fileURLToPath(new URL("../k8s/assets.sh", import.meta.url));
const SERVER_BINARIES = {
  etcd: "etcd",
  kubeApiserver: "kube-apiserver",
  kubeControllerManager: "kube-controller-manager",
  kubectl: "kubectl",
  helm: "helm",
} as const satisfies Record<keyof ControlPlaneBinaries, string>;
const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

/** The Kubernetes version test/k8s/assets.sh pins; it names the cache directory. */
export function pinnedKubernetesVersion(): string {
  const match = /^K8S_VERSION=(\S+)$/m.exec(readFileSync(ASSETS_SCRIPT, "utf8"));
  if (!match?.[1]) throw new Error(`no K8S_VERSION= line in ${ASSETS_SCRIPT}`);
  return match[1];
}

/** Directories searched for binaries, in order: $KUBEBUILDER_ASSETS, then the build cache. */
export function assetDirectories(env: NodeJS.ProcessEnv = process.env): string[] {
  const cache =
    env.FLOXIDE_K8S_ASSETS ?? join(homedir(), ".cache", "floxide-k8s", `k8s-${pinnedKubernetesVersion()}`);
  return env.KUBEBUILDER_ASSETS ? [env.KUBEBUILDER_ASSETS, cache] : [cache];
}

/** Finds every binary or throws ControlPlaneAssetsMissing naming the missing ones. */
export function locateBinaries(env: NodeJS.ProcessEnv = process.env): ControlPlaneBinaries {
  const dirs = assetDirectories(env);
  const missing: string[] = [];
  const find = (file: string): string => {
    const found = dirs.map((dir) => join(dir, file)).find((path) => existsSync(path));
    if (!found) missing.push(file);
    return found ?? "";
  };
  const binaries = {
    etcd: find(SERVER_BINARIES.etcd),
    kubeApiserver: find(SERVER_BINARIES.kubeApiserver),
    kubeControllerManager: find(SERVER_BINARIES.kubeControllerManager),
    kubectl: find(SERVER_BINARIES.kubectl),
    helm: find(SERVER_BINARIES.helm),
  };
  if (missing.length > 0) {
    throw new ControlPlaneAssetsMissing(
      `Kubernetes test binaries missing: ${missing.join(", ")} (looked in ${dirs.join(", ")}). ` +
        "Run `bash scripts/provision.sh k8s` (npm test does) to build them (the first build takes tens of minutes), " +
        "or set KUBEBUILDER_ASSETS, or FLOXIDE_USE_EXISTING_CLUSTER=1 with KUBECONFIG. " +
        "See docs/kubernetes-tests.md.",
    );
  }
  return binaries;
}

export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  const env = options.env ?? process.env;
  if (env.FLOXIDE_USE_EXISTING_CLUSTER === "1") return connectToExistingCluster(env);
  const binaries = locateBinaries(env);
  // Free ports are picked before the servers bind them; another process may win the race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalControlPlane(binaries, options.startTimeoutMs ?? 60_000, options.address);
    } catch (error) {
      const portTaken =
        error instanceof ControlPlaneStartFailed && /address already in use/.test(error.message);
      if (!portTaken || attempt === 3) throw error;
    }
  }
}

/**
 * The last `lines` lines of each process's log, headed by the process name: what a failing
 * test prints. Read it before stop(), which deletes the files.
 */
export function logTails(controlPlane: Pick<ControlPlane, "logFiles">, lines = 40): string {
  if (controlPlane.logFiles.length === 0) return "(no control-plane logs: not started by this harness)";
  return controlPlane.logFiles
    .map((log) => `--- ${log.process} (${log.path}) ---\n${tail(log.path, lines)}`)
    .join("\n");
}

function tail(path: string, lines: number): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(cannot read: ${(error as Error).message})`;
  }
}

interface Layout {
  root: string;
  etcdData: string;
  certDir: string;
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
  tokenFile: string;
  controllerManagerKubeconfig: string;
  adminKubeconfig: string;
}

interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
}

async function startLocalControlPlane(
  binaries: ControlPlaneBinaries,
  timeoutMs: number,
  address = "127.0.0.1",
): Promise<ControlPlane> {
  const layout = await createLayout();
  const ports = await freePorts();
  const adminToken = randomBytes(24).toString("hex");
  const controllerManagerToken = randomBytes(24).toString("hex");
  await writeCredentials(layout, adminToken, controllerManagerToken);
  const server = `https://${address}:${ports.apiserver}`;
  const processes: ManagedProcess[] = [];
  const stop = stopper(processes, layout.root);
  // Aborted as soon as a server exits, so a crash fails the start at once, not at the deadline.
  const crashed = new AbortController();
  const start = (name: string, binary: string, args: string[]): void => {
    const managed = spawnLogged(name, binary, args, layout.root);
    processes.push(managed);
    void managed.exited.then(() => crashed.abort(new ControlPlaneStartFailed(exitReason(managed))));
  };
  try {
    start("etcd", binaries.etcd, etcdArgs(layout, ports));
    start("kube-apiserver", binaries.kubeApiserver, apiserverArgs(layout, ports, address));
    const wait = { timeoutMs, signal: crashed.signal };
    const ca = await waitForServingCa(layout, wait);
    await waitForReady(server, ca, adminToken, wait);
    const kubeConfig = adminKubeConfig(server, ca, adminToken);
    await writeFile(layout.adminKubeconfig, toYaml(JSON.parse(kubeConfig.exportConfig())), { mode: 0o600 });
    const controllerManagerConfig = adminKubeConfig(server, ca, controllerManagerToken);
    await writeFile(layout.controllerManagerKubeconfig, controllerManagerConfig.exportConfig(), {
      mode: 0o600,
    });
    start("kube-controller-manager", binaries.kubeControllerManager, controllerManagerArgs(layout));
    return {
      kubeConfig,
      kubeconfigPath: layout.adminKubeconfig,
      binaries,
      existingCluster: false,
      kubeConfigFor: (serviceAccount) => impersonating(kubeConfig, serviceAccount),
      stop,
      logFiles: logFilesOf(processes),
    };
  } catch (error) {
    const message = `${(error as Error).message}\n${logTails({ logFiles: logFilesOf(processes) })}`;
    await stop();
    throw new ControlPlaneStartFailed(message, { cause: error });
  }
}

async function createLayout(): Promise<Layout> {
  const root = await mkdtemp(join(tmpdir(), "floxide-control-plane-"));
  const layout: Layout = {
    root,
    etcdData: join(root, "etcd"),
    certDir: join(root, "apiserver-certs"),
    serviceAccountKey: join(root, "service-account.key"),
    serviceAccountPublicKey: join(root, "service-account.pub"),
    tokenFile: join(root, "tokens.csv"),
    controllerManagerKubeconfig: join(root, "kube-controller-manager.kubeconfig"),
    adminKubeconfig: join(root, "admin.kubeconfig"),
  };
  await mkdir(layout.etcdData, { mode: 0o700 });
  await mkdir(layout.certDir, { mode: 0o700 });
  return layout;
}

/**
 * Static bearer tokens: one admin for the tests and one for the controller manager, both in
 * system:masters. The service-account key pair signs and verifies ServiceAccount tokens
 * (ECDSA P-256: generated in a millisecond, unlike RSA).
 */
async function writeCredentials(
  layout: Layout,
  adminToken: string,
  controllerManagerToken: string,
): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  await writeFile(layout.serviceAccountKey, privateKey, { mode: 0o600 });
  await writeFile(layout.serviceAccountPublicKey, publicKey);
  const tokens = [
    `${adminToken},floxide-test-admin,floxide-test-admin,"system:masters"`,
    `${controllerManagerToken},system:kube-controller-manager,system:kube-controller-manager,"system:masters"`,
  ];
  await writeFile(layout.tokenFile, `${tokens.join("\n")}\n`, { mode: 0o600 });
}

/** Distinct free loopback ports: all listeners stay open until every port is known. */
async function freePorts(): Promise<Ports> {
  const servers = await Promise.all(
    [0, 1, 2].map(
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  const [etcdClient, etcdPeer, apiserver] = ports as [number, number, number];
  return { etcdClient, etcdPeer, apiserver };
}

function etcdArgs(layout: Layout, ports: Ports): string[] {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    "--name=default",
    `--data-dir=${layout.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    // The data is thrown away after the test: durability only costs time.
    "--unsafe-no-fsync=true",
    "--log-level=warn",
  ];
}

function apiserverArgs(layout: Layout, ports: Ports, address: string): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    `--advertise-address=${address}`,
    `--bind-address=${address}`,
    // A kubelet on a loopback address is refused, so a test node registers its bridge address;
    // logs and exec then go to that InternalIP.
    "--kubelet-preferred-address-types=InternalIP",
    `--secure-port=${ports.apiserver}`,
    // No --tls-cert-file: the server writes a self-signed serving cert (and its CA) here.
    `--cert-dir=${layout.certDir}`,
    "--authorization-mode=RBAC",
    `--token-auth-file=${layout.tokenFile}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${layout.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${layout.serviceAccountKey}`,
    "--service-cluster-ip-range=10.0.0.0/24",
    "--allow-privileged=true",
  ];
}

function controllerManagerArgs(layout: Layout): string[] {
  return [
    `--kubeconfig=${layout.controllerManagerKubeconfig}`,
    "--leader-elect=false",
    `--service-account-private-key-file=${layout.serviceAccountKey}`,
    // Nothing scrapes it, and a fixed port would collide between parallel control planes.
    "--secure-port=0",
  ];
}

function exitReason(managed: ManagedProcess): string {
  const status = managed.child.exitCode ?? managed.child.signalCode ?? "could not be started";
  return `${managed.name} exited during start-up (${status})`;
}

interface StartWait {
  timeoutMs: number;
  signal: AbortSignal;
}

/** The self-signed serving cert bundle (leaf + CA) the API server writes before it serves. */
async function waitForServingCa(layout: Layout, wait: StartWait): Promise<string> {
  const path = join(layout.certDir, "apiserver.crt");
  return waitFor(
    async () => {
      const pem = existsSync(path) ? await readFile(path, "utf8") : "";
      return pem.includes("END CERTIFICATE") ? pem : undefined;
    },
    { ...wait, intervalMs: 50, message: `kube-apiserver to write ${path}` },
  );
}

async function waitForReady(server: string, ca: string, token: string, wait: StartWait): Promise<void> {
  await waitFor(async () => (await httpsStatus(`${server}/readyz`, ca, token)) === 200, {
    ...wait,
    intervalMs: 100,
    message: `${server}/readyz to be ok`,
  });
}

function httpsStatus(url: string, ca: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("timeout", () => req.destroy(new Error(`no answer from ${url}`)));
    req.once("error", reject);
    req.end();
  });
}

function adminKubeConfig(server: string, ca: string, token: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      { name: "floxide-test", server, caData: Buffer.from(ca).toString("base64"), skipTLSVerify: false },
    ],
    users: [{ name: "admin", token }],
    contexts: [{ name: "floxide-test", cluster: "floxide-test", user: "admin" }],
    currentContext: "floxide-test",
  });
  return kubeConfig;
}

/** The same cluster and credentials, plus `Impersonate-User: system:serviceaccount:ns:name`. */
function impersonating(base: KubeConfig, serviceAccount: ServiceAccountRef): KubeConfig {
  const current = base.getCurrentUser();
  if (!current) throw new Error("the base KubeConfig has no current user");
  const user: User = {
    ...current,
    name: `${current.name}-as-${serviceAccount.namespace}-${serviceAccount.name}`,
    impersonateUser: `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
  };
  const context = base.getContextObject(base.getCurrentContext());
  if (!context) throw new Error("the base KubeConfig has no current context");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: base.getClusters(),
    users: [user],
    contexts: [{ ...context, name: user.name, user: user.name }],
    currentContext: user.name,
  });
  return kubeConfig;
}

/** Stops all processes (SIGTERM to each group, SIGKILL after a grace period), then the files. */
function stopper(processes: ManagedProcess[], root: string): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const release = killOnProcessDeath(processes, root);
  return () => {
    stopping ??= (async () => {
      // Reverse start order: clients first, so no server waits for its clients to go.
      for (const managed of [...processes].reverse()) await terminate(managed);
      release();
      await rm(root, { recursive: true, force: true });
    })();
    return stopping;
  };
}

/**
 * The servers run in their own process groups and would outlive a test process that exits,
 * crashes or is interrupted without calling stop(). Returns a function removing the hooks.
 */
function killOnProcessDeath(processes: readonly ManagedProcess[], root: string): () => void {
  const killAll = (): void => {
    processes.forEach((managed) => signalGroup(managed, "SIGKILL"));
    rmSync(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    // Default behaviour once the last of these one-shot handlers has run: die of the signal.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  process.once("exit", killAll);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return () => {
    process.removeListener("exit", killAll);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
}

function connectToExistingCluster(env: NodeJS.ProcessEnv): ControlPlane {
  const kubeconfigPaths = (env.KUBECONFIG ?? "").split(delimiter).filter((path) => path.length > 0);
  const [kubeconfigPath] = kubeconfigPaths;
  if (!kubeconfigPath || kubeconfigPaths.length > 1) {
    throw new ControlPlaneAssetsMissing(
      "FLOXIDE_USE_EXISTING_CLUSTER=1 needs KUBECONFIG set to exactly one kubeconfig file",
    );
  }
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    kubeConfig,
    kubeconfigPath,
    binaries: { kubectl: clientBinary("kubectl", env), helm: clientBinary("helm", env) },
    existingCluster: true,
    kubeConfigFor: (serviceAccount) => impersonating(kubeConfig, serviceAccount),
    stop: async () => undefined,
    logFiles: [],
  };
}

/** kubectl/helm from the asset directories when there, else whatever PATH has. */
function clientBinary(name: "kubectl" | "helm", env: NodeJS.ProcessEnv): string {
  return (
    assetDirectories(env)
      .map((dir) => join(dir, name))
      .find((path) => existsSync(path)) ?? name
  );
}
