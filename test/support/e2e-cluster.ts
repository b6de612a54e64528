// The end-to-end suite's cluster: the test node (node.ts) with the images built from the
// Dockerfiles (images.ts) imported, the e2e workflow image built FROM the worker image the way
// docs/install.md tells users to, the chart's Redis image, and a host Redis the pods reach on
// the bridge. kubectl and helm run as a user would run them: on PATH, with KUBECONFIG set.
import { execFile, spawn } from "node:child_process";
import { registerHooks } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { pino } from "pino";
import { Orchestrator } from "../../worker/engine/index.ts";
import { loadWorkflowModule } from "../../worker/load-workflow.ts";
import type { StoreBackend, WorkflowStore } from "../../worker/store/index.ts";
import { openRedisBackend } from "../../worker/store/open-redis.ts";
import { pauseImage, redisImage, type OciLayout } from "./base-images.ts";
import { projectImageNames, REPO_ROOT, withBuildkit, type BuiltImage } from "./images.ts";
import { startTestNode, type TestNode } from "./node.ts";
import { startRedis, type RedisServer } from "./redis.ts";

const run = promisify(execFile);
export const E2E_WORKFLOWS = join(REPO_ROOT, "test", "e2e", "workflows");
/** The e2e workflow image: FROM the worker image, test/e2e/workflows/*.ts under /app/workflows. */
export const WORKFLOWS_IMAGE = "floxide-e2e-workflows:1";

export interface E2eCluster {
  node: TestNode;
  images: { worker: BuiltImage; operator: BuiltImage; workflows: BuiltImage; redis: OciLayout };
  /** A Redis on the host, reachable from pods at `podRedisUrl`. */
  redis: RedisServer;
  podRedisUrl: string;
  /** Environment for kubectl/helm as a user has it: both on PATH, KUBECONFIG set. */
  shellEnv: NodeJS.ProcessEnv;
  kubectl(...args: string[]): Promise<string>;
  /** A bash script in the repo root with shellEnv; rejects with its output on failure. */
  bash(script: string, timeoutMs?: number): Promise<string>;
  /** Stores of a workflow on a Redis (default: the host Redis), for starting and checking runs. */
  openStore(workflow: string, keyPrefix: string, redisUrl?: string): Promise<WorkflowStore>;
  /** An orchestrator for an e2e workflow module (test/e2e/workflows/<name>.mjs). */
  orchestrator(moduleName: string, keyPrefix: string, redisUrl?: string): Promise<Orchestrator>;
  stop(): Promise<void>;
}

export async function startE2eCluster(log: (line: string) => void): Promise<E2eCluster> {
  const node = await startTestNode({ sandboxImage: await pauseImage(), log });
  const backends: StoreBackend[] = [];
  let redis: RedisServer | undefined;
  try {
    const names = projectImageNames();
    const images = await withBuildkit(async (build) => {
      const worker = await build(
        { context: REPO_ROOT, dockerfile: "Dockerfile.worker", image: names.worker },
        log,
      );
      const operator = await build(
        { context: REPO_ROOT, dockerfile: "Dockerfile.operator", image: names.operator },
        log,
      );
      const workflows = await build(
        {
          context: E2E_WORKFLOWS,
          dockerfile: "Dockerfile",
          image: WORKFLOWS_IMAGE,
          buildArgs: { WORKER_IMAGE: names.worker },
          localImages: [worker.layout],
        },
        log,
      );
      return { worker, operator, workflows, redis: await redisImage(await chartRedisImage()) };
    });
    // Into this node's containerd, or into an existing cluster with the user's $FLOXIDE_LOAD_IMAGE.
    for (const layout of [
      images.worker.layout,
      images.operator.layout,
      images.workflows.layout,
      images.redis,
    ]) {
      await node.importImage(layout);
    }
    log(node.local ? "images imported into the node's containerd" : "images loaded into the cluster");
    // Bound to the bridge as well: worker pods and the operator pod connect to it by address.
    // Protected mode off: it refuses every client not on loopback when there is no password.
    redis = await startRedis({ args: ["--bind", "127.0.0.1", node.hostAddress, "--protected-mode", "no"] });
    const cp = node.controlPlane;
    const shellEnv: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: cp.kubeconfigPath,
      PATH: `${dirname(cp.binaries.kubectl)}:${dirname(cp.binaries.helm)}:${process.env.PATH ?? ""}`,
    };
    const podRedisUrl = `redis://${node.hostAddress}:${redis.port}`;
    const openStore = async (
      workflow: string,
      keyPrefix: string,
      redisUrl = redis?.url ?? "",
    ): Promise<WorkflowStore> => {
      const backend = await openRedisBackend(
        { redisUrl, redisMode: "standalone", keyPrefix, retentionSeconds: 3600 },
        pino({ level: "silent" }),
      );
      backends.push(backend);
      return backend.forWorkflow(workflow);
    };
    return {
      node,
      images,
      redis,
      podRedisUrl,
      shellEnv,
      kubectl: async (...args) =>
        (await run(cp.binaries.kubectl, args, { env: shellEnv, timeout: 120_000, maxBuffer: 16 << 20 }))
          .stdout,
      bash: (script, timeoutMs = 180_000) => runBash(script, shellEnv, timeoutMs),
      openStore,
      orchestrator: async (moduleName, keyPrefix, redisUrl) => {
        sdkFromSources();
        const def = await loadWorkflowModule(join(E2E_WORKFLOWS, `${moduleName}.mjs`));
        return new Orchestrator(await openStore(def.name, keyPrefix, redisUrl), def);
      },
      stop: async () => {
        for (const backend of backends) await backend.close().catch(() => undefined);
        await redis?.stop();
        await node.stop();
      },
    };
  } catch (error) {
    await redis?.stop().catch(() => undefined);
    await node.stop();
    throw error;
  }
}

let hooked = false;
/**
 * In this process the e2e modules' `floxide-k8s/worker/sdk` is the SDK's source, not dist/ (not
 * built in a fresh checkout); in the image it is the installed package. Same workflow either way.
 */
function sdkFromSources(): void {
  if (hooked) return;
  hooked = true;
  const sdk = pathToFileURL(join(REPO_ROOT, "worker", "sdk", "index.ts")).href;
  registerHooks({
    resolve: (specifier, context, nextResolve) =>
      specifier === "floxide-k8s/worker/sdk" &&
      context.parentURL?.startsWith(pathToFileURL(E2E_WORKFLOWS).href)
        ? { url: sdk, shortCircuit: true }
        : nextResolve(specifier, context),
  });
}

/** bash -euo pipefail -c script, stdin closed (as in CI); rejects with the output on failure. */
function runBash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: timeoutMs,
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code, signal) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`bash exited (${code ?? signal}) running:\n${script}\n--- output ---\n${output}`)),
    );
  });
}

/** The Redis image the chart's values name (redis.image.repository:tag). */
async function chartRedisImage(): Promise<string> {
  const { parse } = await import("yaml");
  const { readFile } = await import("node:fs/promises");
  const values = parse(await readFile(join(REPO_ROOT, "helm", "floxide", "values.yaml"), "utf8")) as {
    redis: { image: { repository: string; tag: string } };
  };
  return `${values.redis.image.repository}:${values.redis.image.tag}`;
}
