// End to end on a real one-node cluster (test/support/node.ts): images built from the
// Dockerfiles with BuildKit, the chart installed with helm, WorkflowDeployments applied with
// kubectl, worker pods scaled by the operator pod, runs started as the README does.
// The tests run in order and share the node and the operator the README block installs.
// Skipped, with the reason, where a node cannot start (not root, binaries or packages missing:
// `bash test/k8s/assets.sh` and `bash scripts/provision.sh` install them).
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { isTerminal, type RunInfo, type WorkflowStore } from "../../worker/store/index.ts";
import { parseExposition, queriesOf, selectorsOf, dashboardFiles } from "../support/dashboards.ts";
import { startE2eCluster, WORKFLOWS_IMAGE, type E2eCluster } from "../support/e2e-cluster.ts";
import { normalizedName } from "../support/base-images.ts";
import { baseImagesOf, REPO_ROOT } from "../support/images.ts";
import { currentSysctls, nodeLeftovers, nodeOwnedPaths, recordedSysctls } from "../support/node-host.ts";
import { NODE_LOCK } from "../support/node-lock.ts";
import { whyNodeCannotStart } from "../support/node.ts";
import { notReferencePass } from "../support/node-lines.ts";
import { waitFor } from "../support/wait.ts";

const skip = notReferencePass("the e2e suite") ?? whyNodeCannotStart();
const WFD = { group: "floxide.dev", version: "v1alpha1", plural: "workflowdeployments" };
const NS = "e2e";
const WORKER_SELECTOR = "app.kubernetes.io/name=floxide-worker";
// Replaced by what the suite's node recorded under the lock: another run's node may be up now.
let sysctlsBefore = currentSysctls();

let cluster: E2eCluster;
const core = (): CoreV1Api => cluster.node.controlPlane.kubeConfig.makeApiClient(CoreV1Api);
const custom = (): CustomObjectsApi => cluster.node.controlPlane.kubeConfig.makeApiClient(CustomObjectsApi);

/** Worker pods of a WorkflowDeployment that are not being deleted. */
async function workerPods(namespace: string, wfd: string): Promise<V1Pod[]> {
  const pods = await core().listNamespacedPod({
    namespace,
    labelSelector: `${WORKER_SELECTOR},floxide.dev/workflow-deployment=${wfd}`,
  });
  return pods.items.filter((pod) => !pod.metadata?.deletionTimestamp);
}

const running = (pods: V1Pod[]): V1Pod[] => pods.filter((pod) => pod.status?.phase === "Running");
/** Ready pods: what a PodDisruptionBudget counts as healthy. */
const ready = (pods: V1Pod[]): V1Pod[] =>
  pods.filter((pod) => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
const names = (pods: V1Pod[]): string[] => pods.map((pod) => pod.metadata?.name ?? "").sort();

async function applyWorkflowDeployment(name: string, spec: Record<string, unknown>): Promise<void> {
  await custom().createNamespacedCustomObject({
    ...WFD,
    namespace: NS,
    body: {
      apiVersion: "floxide.dev/v1alpha1",
      kind: "WorkflowDeployment",
      metadata: { name, namespace: NS },
      spec: {
        image: WORKFLOWS_IMAGE,
        imagePullPolicy: "IfNotPresent",
        redis: { url: cluster.podRedisUrl },
        keyPrefix: `e2e-${name}`,
        concurrency: 1,
        leaseMs: 3000,
        drainTimeoutSeconds: 60,
        ...spec,
        scaling: {
          minReplicas: 0,
          maxReplicas: 3,
          targetPerReplica: 1,
          pollIntervalSeconds: 1,
          scaleDownStabilizationSeconds: 0,
          cooldownSeconds: 3,
          ...(spec.scaling as Record<string, unknown> | undefined),
        },
      },
    },
  });
}

async function deleteWorkflowDeployment(name: string, namespace = NS): Promise<void> {
  await custom().deleteNamespacedCustomObject({ ...WFD, namespace, name });
  await waitFor(
    async () => (await workerPods(namespace, name)).length === 0 && (await allPodsGone(namespace, name)),
    {
      timeoutMs: 90_000,
      message: `the worker pods of ${name} to be gone`,
    },
  );
}

async function allPodsGone(namespace: string, wfd: string): Promise<boolean> {
  const pods = await core().listNamespacedPod({
    namespace,
    labelSelector: `floxide.dev/workflow-deployment=${wfd}`,
  });
  return pods.items.length === 0;
}

async function waitForRun(store: WorkflowStore, runId: string, timeoutMs: number): Promise<RunInfo> {
  return waitFor(
    async () => {
      const info = await store.getRun(runId);
      return info && isTerminal(info.status) ? info : undefined;
    },
    { timeoutMs, intervalMs: 250, message: `run ${runId} to finish` },
  );
}

/** On failure, the node's and the control plane's logs: what to look at next. */
async function withLogs(t: TestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    t.diagnostic(cluster.node.logTails(25));
    throw error;
  }
}

/** Every floxide_ metric the named dashboard queries is in the /metrics of address:port. */
async function assertDashboardMetrics(
  dashboard: "workers" | "operator",
  address: string,
  port: number,
): Promise<void> {
  const url = `http://${address}:${port}/metrics`;
  const exported = parseExposition(await (await fetch(url)).text());
  const queried = dashboardFiles()
    .filter((file) => file.startsWith(dashboard))
    .flatMap(queriesOf)
    .flatMap((query) => selectorsOf(query.expr).map((selector) => selector.metric));
  assert.ok(queried.length > 0, `the ${dashboard} dashboard queries metrics`);
  const missing = [...new Set(queried)].filter(
    (metric) => metric.startsWith("floxide_") && !exported.has(metric),
  );
  assert.deepEqual(missing, [], `metrics the ${dashboard} dashboard queries, missing from ${url}`);
}

/** The README's "Install on Kubernetes" sh block as commands (continuations and heredocs kept). */
export function readmeInstallCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf("## Install on Kubernetes"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README.md has no ```sh block under '## Install on Kubernetes'");
  const commands: string[] = [];
  let current = "";
  let heredoc: string | undefined;
  for (const line of block.split("\n")) {
    current += `${line}\n`;
    if (heredoc !== undefined) {
      if (line.trim() === heredoc) heredoc = undefined;
      else continue;
    } else {
      const opens = /<<-?'?(\w+)'?/.exec(line);
      if (opens?.[1]) {
        heredoc = opens[1];
        continue;
      }
      if (line.trimEnd().endsWith("\\")) continue;
    }
    if (current.trim() !== "") commands.push(current.trimEnd());
    current = "";
  }
  return commands;
}

/** On an existing cluster nothing is thrown away with a node: the chart and the namespaces go. */
async function removeSuiteObjects(): Promise<void> {
  await cluster
    .bash(
      "helm uninstall floxide -n floxide-system --wait --ignore-not-found; " +
        `kubectl delete namespace ${NS} floxide-system --ignore-not-found --wait=true --timeout=120s`,
      180_000,
    )
    .catch((error: unknown) => process.stdout.write(`# e2e: cleanup: ${(error as Error).message}\n`));
}

describe("on a one-node cluster (kubelet, containerd, kube-proxy)", { skip }, () => {
  before(
    async () => {
      const started = Date.now();
      cluster = await startE2eCluster((line) => process.stdout.write(`# e2e: ${line}\n`));
      sysctlsBefore = recordedSysctls() ?? sysctlsBefore;
      process.stdout.write(
        `# e2e: cluster and images ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      // An existing cluster may hold what an earlier, killed run made.
      if (!cluster.node.local) await removeSuiteObjects();
      await core().createNamespace({ body: { metadata: { name: NS } } });
    },
    { timeout: 30 * 60_000 },
  );
  after(
    async () => {
      if (cluster && !cluster.node.local) await removeSuiteObjects();
      await cluster?.stop();
    },
    { timeout: 240_000 },
  );

  test("the worker image is under 200 MB unpacked, on its runtime base; both images come from the Dockerfiles", (t) => {
    const { worker, operator } = cluster.images;
    const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
    t.diagnostic(
      `worker: ${mb(worker.size.uncompressed)} unpacked, ${mb(worker.size.compressed)} compressed; ` +
        `base ${worker.base?.name}: ${mb(worker.base?.size.uncompressed ?? 0)} unpacked; ` +
        `operator: ${mb(operator.size.uncompressed)} unpacked, ${mb(operator.size.compressed)} compressed`,
    );
    // The final stage starts FROM the runtime base (no shell, no npm), not the Node image.
    const finalFrom = baseImagesOf(readFileSync(join(REPO_ROOT, "Dockerfile.worker"), "utf8")).at(-1) ?? "";
    assert.match(finalFrom, /^gcr\.io\/distroless\/cc-debian12:/);
    assert.equal(
      worker.base?.name,
      normalizedName(finalFrom),
      "the worker image starts with its runtime base's layers",
    );
    // As `docker images` shows it (docs/kubernetes-tests.md, "Image size").
    assert.ok(
      worker.size.uncompressed < 200_000_000,
      `worker image ${mb(worker.size.uncompressed)} unpacked`,
    );
    for (const image of [worker, operator]) {
      const config = JSON.parse(readFileSync(join(image.layout.dir, "index.json"), "utf8")) as {
        manifests: { annotations?: Record<string, string> }[];
      };
      assert.equal(config.manifests[0]?.annotations?.["io.containerd.image.name"], image.layout.name);
    }
  });

  test("an image built FROM the worker base with its own npm dependencies (docs/install.md) loads its module", async (t) => {
    await withLogs(t, async () => {
      // test/e2e/workflows/Dockerfile: npm ci in a build stage, node_modules copied onto the
      // base's /app/node_modules (with its floxide-k8s link); deps.mjs imports both. No shell:
      // `floxide` is the image's launcher. Read with `kubectl logs` once the pod has finished:
      // `kubectl run -i` attaches after the start and can miss a command this short.
      const pod = "e2e-user-deps";
      await cluster.kubectl(
        "run",
        pod,
        "-n",
        NS,
        "--restart=Never",
        `--image=${WORKFLOWS_IMAGE}`,
        "--image-pull-policy=IfNotPresent",
        "--command",
        "--",
        "floxide",
        "graph",
        "/app/workflows/deps.mjs",
      );
      t.after(() =>
        core()
          .deleteNamespacedPod({ name: pod, namespace: NS })
          .catch(() => undefined),
      );
      const phase = await waitFor(
        async () => {
          const status = (await core().readNamespacedPod({ name: pod, namespace: NS })).status?.phase;
          return status === "Succeeded" || status === "Failed" ? status : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: `the pod ${pod} to finish` },
      );
      const logs = await cluster.kubectl("logs", "-n", NS, pod);
      assert.equal(phase, "Succeeded", `floxide graph /app/workflows/deps.mjs failed:\n${logs}`);
      assert.match(
        logs,
        /wait-1m/,
        `floxide graph of deps.mjs (its node is named by the ms package):\n${logs}`,
      );
    });
  });

  test(
    "the README's Install on Kubernetes block, line for line (kind and docker lines: this node and BuildKit)",
    { timeout: 10 * 60_000 },
    async (t) => {
      await withLogs(t, async () => {
        const commands = readmeInstallCommands(readFileSync(join(REPO_ROOT, "README.md"), "utf8"));
        const replaced = commands.filter((command) => /^(kind|docker) /.test(command));
        assert.equal(
          replaced.length,
          4,
          `kind create, two docker builds, kind load: ${replaced.join(" | ")}`,
        );
        const watch = commands.find((command) => / -w\b/.test(command));
        assert.ok(watch, "the block ends with a kubectl ... -w watch");
        let watched = "";
        let watching = false;
        // The watch is left open, as a user keeps it in a second terminal while the runs go: it
        // starts with the run loop (the WorkflowDeployment exists by then) and is read at the end.
        // Started after the loop it could miss the whole scale-up, or not have printed yet.
        const startWatch = (): void => {
          watching = true;
          t.diagnostic(`$ ${watch} (in a second terminal, from the run loop on)`);
          const watcher = spawn("bash", ["-c", watch], { cwd: REPO_ROOT, env: cluster.shellEnv });
          watcher.stdout.on("data", (chunk: Buffer) => (watched += chunk.toString()));
          watcher.stderr.on("data", (chunk: Buffer) => (watched += chunk.toString()));
          t.after(() => void watcher.kill("SIGTERM"));
        };
        for (const command of commands) {
          if (replaced.includes(command)) {
            t.diagnostic(`replaced: ${command.split("\n")[0]}`);
            continue;
          }
          if (command === watch) {
            if (!watching) startWatch();
            continue;
          }
          if (!watching && /\bkubectl run\b/.test(command)) startWatch();
          t.diagnostic(`$ ${command.split("\n")[0]}`);
          await cluster.bash(command, 240_000);
        }
        // The operator runs as a pod and leads.
        const operatorPod = await waitFor(
          async () => {
            const pods = await core().listNamespacedPod({
              namespace: "floxide-system",
              labelSelector: "app.kubernetes.io/name=floxide-operator",
            });
            return pods.items.find((pod) =>
              pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
            );
          },
          { timeoutMs: 60_000, intervalMs: 250, message: "the operator pod (helm install) to be Ready" },
        );
        const leases = await cluster.node.controlPlane.kubeConfig
          .makeApiClient(CoordinationV1Api)
          .listNamespacedLease({ namespace: "floxide-system" });
        assert.ok(
          leases.items.some((lease) =>
            lease.spec?.holderIdentity?.startsWith(operatorPod.metadata?.name ?? "?"),
          ),
          `a Lease held by ${operatorPod.metadata?.name}: ${JSON.stringify(leases.items.map((lease) => lease.spec))}`,
        );
        // /metrics from the operator pod's IP: every operator metric its dashboard queries.
        await assertDashboardMetrics("operator", operatorPod.status?.podIP ?? "", 8080);
        // The runs the block started complete on worker pods the operator scaled up.
        const redisService = await core().readNamespacedService({
          name: "floxide-redis",
          namespace: "floxide-system",
        });
        const store = await cluster.openStore(
          "video",
          "floxide",
          `redis://${redisService.spec?.clusterIP}:6379`,
        );
        let seen: RunInfo[] = [];
        const runs = await waitFor(
          async () => {
            seen = await store.listRuns({ limit: 100 });
            return seen.length === 20 && seen.every((run) => run.status === "completed") ? seen : undefined;
          },
          { timeoutMs: 240_000, intervalMs: 1000, message: "the README's 20 video runs to complete" },
        ).catch(async (error: unknown) => {
          // What was reached: the runs by status, the workers, the replicas the watch showed.
          const statuses = seen.map((run) => run.status).join(" ");
          const workers = (await store.listWorkers().catch(() => [])).map((worker) => worker.workerId);
          t.diagnostic(
            `runs (${seen.length}): ${statuses}\nworkers: ${workers.join(", ")}\nwatch:\n${watched}`,
          );
          t.diagnostic(await cluster.kubectl("get", "pods", "-A", "-o", "wide").catch(String));
          throw error;
        });
        assert.equal(runs.length, 20);
        const workers = await store.listWorkers();
        assert.ok(
          workers.some((worker) => worker.workerId.startsWith("video-")),
          `steps ran in the video worker pods: ${workers.map((worker) => worker.workerId).join(", ")}`,
        );
        const replicas = (): number[] =>
          [...watched.matchAll(/^video\s+\S+\s+(\d+)/gm)].map((match) => Number(match[1]));
        await waitFor(() => replicas().some((count) => count > 0) || undefined, {
          timeoutMs: 30_000,
          intervalMs: 250,
          message: "kubectl get wfd video -w to show replicas > 0",
        }).catch(() => undefined);
        assert.ok(
          replicas().some((count) => count > 0),
          `kubectl get wfd video -w showed replicas > 0:\n${watched}`,
        );
        await deleteWorkflowDeployment("video", "default");
      });
    },
  );

  test(
    "workers scale 0 -> N, run the steps in pods, drain the backlog and go back to 0",
    { timeout: 5 * 60_000 },
    async (t) => {
      await withLogs(t, async () => {
        await applyWorkflowDeployment("scale", { workflow: "sleeper", module: "/app/workflows/sleeper.mjs" });
        const orchestrator = await cluster.orchestrator("sleeper", "e2e-scale");
        await waitFor(
          async () =>
            (await custom().getNamespacedCustomObjectStatus({ ...WFD, namespace: NS, name: "scale" })) &&
            true,
          {
            message: "the WorkflowDeployment",
          },
        );
        assert.equal((await workerPods(NS, "scale")).length, 0, "no worker pod before there is work");
        const runIds: string[] = [];
        for (let index = 0; index < 6; index++) runIds.push((await orchestrator.start({ ms: 4000 })).runId);
        const peak = await waitFor(
          async () => {
            const pods = running(await workerPods(NS, "scale"));
            return pods.length === 3 ? pods : undefined;
          },
          {
            timeoutMs: 60_000,
            intervalMs: 250,
            message: "3 worker pods Running (6 items, 1 per replica, max 3)",
          },
        );
        const store = await cluster.openStore("sleeper", "e2e-scale");
        const infos = await Promise.all(runIds.map((id) => waitForRun(store, id, 90_000)));
        const ranOn = new Set(infos.map((info) => (info.outputs[0]?.value as { pod: string }).pod));
        assert.deepEqual(
          infos.map((info) => info.status),
          Array(6).fill("completed"),
        );
        assert.ok(
          [...ranOn].every((pod) => names(peak).includes(pod) || pod.startsWith("scale-")),
          `ran on ${[...ranOn]}`,
        );
        assert.ok(ranOn.size >= 2, `steps ran on several pods: ${[...ranOn].join(", ")}`);

        // kubectl logs: pino JSON lines, with run and item ids.
        const pod = peak[0]?.metadata?.name ?? "";
        const logs = await cluster.kubectl("logs", "-n", NS, pod);
        const lines = logs
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        assert.ok(lines.length > 0);
        assert.ok(
          lines.some(
            (line) =>
              runIds.includes(String(line.run)) && typeof line.item === "string" && line.msg === "sleeping",
          ),
          `a log line of ${pod} names a run and an item:\n${logs.slice(0, 2000)}`,
        );

        // /metrics from the pod IP: every worker metric the dashboards query.
        await assertDashboardMetrics("workers", peak[0]?.status?.podIP ?? "", 8080);

        await waitFor(
          async () => (await workerPods(NS, "scale")).length === 0 && (await allPodsGone(NS, "scale")),
          {
            timeoutMs: 90_000,
            intervalMs: 500,
            message: "the workers to scale back to 0",
          },
        );
        await deleteWorkflowDeployment("scale");
      });
    },
  );

  test(
    "scale-in removes the idle pods and spares the busy one, whose step is not interrupted",
    { timeout: 5 * 60_000 },
    async (t) => {
      await withLogs(t, async () => {
        await applyWorkflowDeployment("scalein", {
          workflow: "sleeper",
          module: "/app/workflows/sleeper.mjs",
        });
        const orchestrator = await cluster.orchestrator("sleeper", "e2e-scalein");
        const store = await cluster.openStore("sleeper", "e2e-scalein");
        const long = (await orchestrator.start({ ms: 25_000 })).runId;
        const shorts = [
          (await orchestrator.start({ ms: 500 })).runId,
          (await orchestrator.start({ ms: 500 })).runId,
        ];
        await waitFor(async () => running(await workerPods(NS, "scalein")).length === 3, {
          timeoutMs: 60_000,
          intervalMs: 250,
          message: "3 worker pods (3 items, 1 per replica)",
        });
        for (const id of shorts) assert.equal((await waitForRun(store, id, 60_000)).status, "completed");
        assert.equal((await store.getRun(long))?.status, "running", "the long step is still running");
        // Backlog 1 (in flight): the operator scales 3 -> 1; the two idle pods go.
        const survivor = await waitFor(
          async () => {
            const pods = await workerPods(NS, "scalein");
            return pods.length === 1 ? pods[0] : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250, message: "scale-in to 1 pod" },
        );
        assert.equal((await store.getRun(long))?.status, "running", "scale-in happened while the step ran");
        const info = await waitForRun(store, long, 60_000);
        assert.equal(info.status, "completed");
        assert.equal(
          (info.outputs[0]?.value as { pod: string }).pod,
          survivor.metadata?.name,
          "the busy pod kept its step",
        );
        const items = await store.listItems(long);
        assert.deepEqual(
          items.map((item) => item.attempt),
          [1],
          "the step ran once, uninterrupted",
        );
        assert.deepEqual(await store.listErrors({ runId: long }), []);
        await waitFor(async () => await allPodsGone(NS, "scalein"), {
          timeoutMs: 60_000,
          intervalMs: 500,
          message: "the busy pod to be removed once its step is done (scale to 0)",
        });
        await deleteWorkflowDeployment("scalein");
      });
    },
  );

  test(
    "a worker pod force-deleted mid-step: its item is reclaimed and the run completes",
    { timeout: 5 * 60_000 },
    async (t) => {
      await withLogs(t, async () => {
        await applyWorkflowDeployment("reclaim", {
          workflow: "sleeper",
          module: "/app/workflows/sleeper.mjs",
          drainTimeoutSeconds: 0,
          scaling: { minReplicas: 1, maxReplicas: 1 },
        });
        const orchestrator = await cluster.orchestrator("sleeper", "e2e-reclaim");
        const store = await cluster.openStore("sleeper", "e2e-reclaim");
        const victim = await waitFor(async () => running(await workerPods(NS, "reclaim"))[0], {
          timeoutMs: 60_000,
          intervalMs: 250,
          message: "the worker pod",
        });
        const runId = (await orchestrator.start({ ms: 8000 })).runId;
        await waitFor(async () => (await store.listItems(runId)).some((item) => item.status === "running"), {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: "the step to start on the only pod",
        });
        const name = victim.metadata?.name ?? "";
        await cluster.kubectl("delete", "pod", "-n", NS, name, "--grace-period=0", "--force");
        const info = await waitForRun(store, runId, 120_000);
        assert.equal(info.status, "completed", JSON.stringify(info.error));
        const ranOn = (info.outputs[0]?.value as { pod: string }).pod;
        assert.notEqual(ranOn, name, "a replacement pod ran the step again");
        // The step had started on the only pod, the victim; it completed on its replacement:
        // handed back by the drain (SIGTERM) or reclaimed once its lease expired (SIGKILL).
        const [item] = await store.listItems(runId);
        assert.equal(item?.status, "completed");
        await deleteWorkflowDeployment("reclaim");
      });
    },
  );

  test(
    "an OOMKilled worker: the item is retried, dead-lettered after maxAttempts, and the run says why",
    { timeout: 5 * 60_000 },
    async (t) => {
      await withLogs(t, async () => {
        await applyWorkflowDeployment("oom", {
          workflow: "hog",
          module: "/app/workflows/hog.mjs",
          leaseMs: 2000,
          resources: { requests: { memory: "64Mi" }, limits: { memory: "192Mi" } },
          scaling: { minReplicas: 1, maxReplicas: 1 },
        });
        const orchestrator = await cluster.orchestrator("hog", "e2e-oom");
        const store = await cluster.openStore("hog", "e2e-oom");
        await waitFor(async () => running(await workerPods(NS, "oom")).length === 1, {
          timeoutMs: 60_000,
          intervalMs: 250,
          message: "the worker pod",
        });
        const runId = (await orchestrator.start({ mb: 4096 })).runId;
        const info = await waitForRun(store, runId, 180_000);
        assert.equal(info.status, "failed");
        assert.equal(info.error?.code, "LeaseLost", JSON.stringify(info.error));
        assert.match(info.error?.message ?? "", /expired on attempt 2/);
        const errors = await store.listErrors({ runId });
        assert.deepEqual(
          errors.map((error) => [error.attempt, error.action]),
          [
            [1, "reclaim"],
            [2, "dead"],
          ],
        );
        assert.equal((await store.deadLetters()).length, 1);
        const [pod] = await workerPods(NS, "oom");
        const status = pod?.status?.containerStatuses?.[0];
        const reasons = [status?.lastState?.terminated?.reason, status?.state?.terminated?.reason];
        assert.ok(reasons.includes("OOMKilled"), `the container was OOMKilled: ${JSON.stringify(status)}`);
        assert.ok((status?.restartCount ?? 0) >= 2, `restarted after each kill: ${status?.restartCount}`);
        await deleteWorkflowDeployment("oom");
      });
    },
  );

  test("the PodDisruptionBudget holds during kubectl drain", { timeout: 5 * 60_000 }, async (t) => {
    await withLogs(t, async () => {
      await applyWorkflowDeployment("pdb", {
        workflow: "sleeper",
        module: "/app/workflows/sleeper.mjs",
        scaling: { minReplicas: 2, maxReplicas: 2 },
      });
      const before = await waitFor(
        async () => {
          const pods = ready(await workerPods(NS, "pdb"));
          return pods.length === 2 ? pods : undefined;
        },
        // Not-ready pods may always be evicted (unhealthyPodEvictionPolicy: AlwaysAllow).
        { timeoutMs: 60_000, intervalMs: 250, message: "2 worker pods Ready" },
      );
      const pdb = await cluster.kubectl(
        "get",
        "pdb",
        "-n",
        NS,
        "-l",
        "floxide.dev/workflow-deployment=pdb",
        "-o",
        "json",
      );
      const budgets = (JSON.parse(pdb) as { items: unknown[] }).items;
      assert.equal(budgets.length, 1, "one PodDisruptionBudget for the workers");
      // The node the workers run on (this suite's node, or a one-node kind/k3d cluster's).
      const nodeName = before[0]?.spec?.nodeName ?? "?";
      let drain = "";
      try {
        await cluster.bash(
          `kubectl drain ${nodeName} --pod-selector=floxide.dev/workflow-deployment=pdb --ignore-daemonsets --delete-emptydir-data --timeout=20s`,
          60_000,
        );
        assert.fail("kubectl drain should stop at the disruption budget");
      } catch (error) {
        drain = (error as Error).message;
      } finally {
        await cluster.kubectl("uncordon", nodeName);
      }
      assert.match(drain, /disruption budget/, drain);
      const after = (await workerPods(NS, "pdb")).map((pod) => pod.metadata?.name ?? "");
      const kept = names(before).filter((name) => after.includes(name));
      assert.equal(
        kept.length,
        1,
        `one pod evicted, one kept by the budget: before ${names(before)}, after ${after}`,
      );
      await deleteWorkflowDeployment("pdb");
    });
  });
});

/** A child process on this Node with this process's loader flags (tsx, or none). */
function child(args: string[]): { process: ChildProcess; output: () => string; exited: Promise<unknown> } {
  const flags = process.execArgv.filter((flag) => !flag.startsWith("--test"));
  // Without this process's test-runner context: a child `node --test` would skip its files.
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  const started = spawn(process.execPath, [...flags, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  started.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  started.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { process: started, output: () => output, exited: once(started, "exit") };
}

/** A child that starts a node and a pod (interrupted-node.ts), once it says "ready". */
async function childWithNode(): Promise<ReturnType<typeof child>> {
  const started = child([join(REPO_ROOT, "test", "e2e", "interrupted-node.ts")]);
  const died = new AbortController();
  void started.exited.then(() => died.abort(new Error(`the child exited early:\n${started.output()}`)));
  await waitFor(() => started.output().includes("ready"), {
    timeoutMs: 150_000,
    intervalMs: 200,
    signal: died.signal,
    message: "the child's node and pod",
  });
  return started;
}

/** The kinds of leftovers (process, mount, cgroup, link, ...) in nodeLeftovers() lines. */
const kinds = (leftovers: string[]): string[] =>
  [...new Set(leftovers.map((line) => line.split(" ")[0] ?? ""))].sort();

// Cleanup when things go wrong: these start their own node in a child process, after the
// suite's node is gone (the node lock serializes them).
const localSkip =
  skip ??
  (process.env.FLOXIDE_USE_EXISTING_CLUSTER === "1"
    ? "FLOXIDE_USE_EXISTING_CLUSTER=1: no local node whose cleanup to check"
    : undefined);

test("nothing of the node is left after the suite stops it", { skip: localSkip }, () => {
  assert.deepEqual(nodeLeftovers(sysctlsBefore), []);
});

test(
  "a test file whose test fails still takes its node down",
  { skip: localSkip, timeout: 240_000 },
  async () => {
    const run = child(["--test", "--test-reporter=tap", join(REPO_ROOT, "test", "e2e", "failing-node.ts")]);
    await run.exited;
    assert.equal(run.process.exitCode, 1, `the failing test fails the file:\n${run.output()}`);
    assert.match(run.output(), /deliberate failure with a pod running/);
    assert.deepEqual(nodeLeftovers(sysctlsBefore), []);
  },
);

test(
  "an interrupted run (SIGTERM) leaves nothing of its node behind",
  { skip: localSkip, timeout: 180_000 },
  async () => {
    const run = await childWithNode();
    assert.notDeepEqual(nodeLeftovers(sysctlsBefore), [], "the child's node is up");
    const owned = nodeOwnedPaths();
    run.process.kill("SIGTERM");
    await run.exited;
    assert.deepEqual(nodeLeftovers(sysctlsBefore, owned), []);
  },
);

test(
  "a run killed with SIGKILL: the cleanup command removes what its node left",
  { skip: localSkip, timeout: 240_000 },
  async () => {
    const run = await childWithNode();
    run.process.kill("SIGKILL");
    await run.exited;
    // No hook ran: the node's servers, the pod, its mounts, cgroups and the bridge are still there.
    const left = nodeLeftovers(sysctlsBefore);
    assert.deepEqual(
      ["cgroup", "link", "mount", "path", "process"].filter((kind) => !kinds(left).includes(kind)),
      [],
      `what a killed run leaves: ${left.join("\n")}`,
    );
    assert.ok(existsSync(NODE_LOCK), "its lock is left too");
    // Its control plane runs from a folder outside the node's root; the sweep removes the record.
    const owned = nodeOwnedPaths();
    assert.equal(owned.length, 1, "the node recorded its control plane's folder");
    assert.ok(
      left.some((line) => line.startsWith("process ") && line.includes(owned[0] ?? "?")),
      `its control plane survives the kill: ${left.join("\n")}`,
    );
    const sweep = child([join(REPO_ROOT, "test", "support", "node-sweep.ts")]);
    await sweep.exited;
    assert.equal(sweep.process.exitCode, 0, sweep.output());
    assert.match(sweep.output(), new RegExp(`took over the node lock .*pid ${run.process.pid}`));
    assert.match(sweep.output(), /removed:\n/);
    assert.deepEqual(nodeLeftovers(sysctlsBefore, owned), []);
    assert.equal(existsSync(NODE_LOCK), false, "the lock is released");
  },
);
