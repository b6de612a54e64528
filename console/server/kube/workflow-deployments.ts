/**
 * The console's read-only view of the WorkflowDeployments (`floxide ui --kube`): for each, the
 * workflow it runs and its desired, current and ready worker replicas, from the status the
 * operator writes. One list call (all namespaces, or one), cached for `ttlMs`, so open pages
 * cost the API server one list per TTL, however many there are.
 *
 * @kubernetes/client-node is loaded here, lazily, and nowhere else in the console: the worker
 * image leaves that package out (Dockerfile.worker; test/e2e/worker-image-deps.test.ts), and the
 * console with Kubernetes access runs from the operator image, as the chart deploys it.
 */
import { Type, type Static } from "@sinclair/typebox";
import { GROUP, PLURAL, VERSION } from "../../../operator/api/workflow-deployment.ts";
import { FloxideError } from "../../../worker/sdk/index.ts";
import { decodeReply } from "../../../worker/store/index.ts";

export interface DeploymentReplicas {
  readonly namespace: string;
  readonly name: string;
  readonly workflow: string;
  /** What the scaler wants (status.desiredReplicas); null until the operator reported it. */
  readonly desired: number | null;
  /** Worker pods that exist (status.replicas). */
  readonly current: number | null;
  readonly ready: number | null;
}

export interface DeploymentsReading {
  readonly deployments: readonly DeploymentReplicas[];
  /** Objects that did not decode, by namespace/name (one never hides the others). */
  readonly malformed: readonly string[];
}

export interface WorkflowDeploymentSource {
  /** The WorkflowDeployments now (cached for the source's TTL); rejects when the API server does. */
  read(): Promise<DeploymentsReading>;
}

export interface KubeSourceOptions {
  /** A kubeconfig file; otherwise the pod's ServiceAccount when `inCluster`, else the default. */
  readonly kubeconfigPath?: string | undefined;
  readonly inCluster: boolean;
  /** Only this namespace; undefined: every namespace. */
  readonly namespace?: string | undefined;
  readonly ttlMs?: number;
}

const Replicas = Type.Optional(Type.Integer({ minimum: 0 }));
/** The fields the console reads; the rest of the object is the operator's business. */
const WorkflowDeploymentView = Type.Object({
  metadata: Type.Object({ name: Type.String(), namespace: Type.String() }),
  spec: Type.Object({ workflow: Type.String() }),
  status: Type.Optional(
    Type.Object({ desiredReplicas: Replicas, replicas: Replicas, readyReplicas: Replicas }),
  ),
});

/** Decodes a list's items: pure, so the rules are tested without an API server. */
export function decodeDeployments(items: readonly unknown[]): DeploymentsReading {
  const deployments: DeploymentReplicas[] = [];
  const malformed: string[] = [];
  for (const item of items) {
    const meta = (item as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
    const id = `${String(meta?.namespace)}/${String(meta?.name)}`;
    let view: Static<typeof WorkflowDeploymentView>;
    try {
      view = decodeReply(WorkflowDeploymentView, item, `WorkflowDeployment ${id}`);
    } catch (error) {
      malformed.push((error as Error).message);
      continue;
    }
    const { metadata, spec, status } = view;
    deployments.push({
      namespace: metadata.namespace,
      name: metadata.name,
      workflow: spec.workflow,
      desired: status?.desiredReplicas ?? null,
      current: status?.replicas ?? null,
      ready: status?.readyReplicas ?? null,
    });
  }
  // By namespace, then name: the API server lists by its storage key, which is not that order.
  const order = (a: DeploymentReplicas, b: DeploymentReplicas): number =>
    a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1;
  return { deployments: deployments.sort(order), malformed };
}

/** A failed list in one line: the API server's status message (403 names the missing RBAC). */
export function describeKubeError(error: unknown): string {
  const { code, body } = error as { code?: unknown; body?: unknown };
  if (typeof code === "number") {
    let message: unknown;
    try {
      message = (JSON.parse(String(body)) as { message?: unknown }).message;
    } catch {
      message = undefined;
    }
    const hint = code === 403 ? " (the console's account needs RBAC `list` on workflowdeployments)" : "";
    return `HTTP ${code}${typeof message === "string" ? `: ${message}` : ""}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

async function loadClient(): Promise<typeof import("@kubernetes/client-node")> {
  try {
    return await import("@kubernetes/client-node");
  } catch (error) {
    throw new FloxideError(
      "InvalidConfig",
      `--kube needs the package @kubernetes/client-node, which this installation leaves out (the worker ` +
        `image does): run the console from the operator image, as the chart does, or \`npm install ` +
        `@kubernetes/client-node\` (${(error as Error).message})`,
    );
  }
}

/** Connects lazily: the client library is loaded and the kubeconfig read here, once. */
export async function kubeWorkflowDeployments(options: KubeSourceOptions): Promise<WorkflowDeploymentSource> {
  const k8s = await loadClient();
  const kubeConfig = new k8s.KubeConfig();
  try {
    if (options.kubeconfigPath !== undefined) kubeConfig.loadFromFile(options.kubeconfigPath);
    else if (options.inCluster) kubeConfig.loadFromCluster();
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new FloxideError(
      "InvalidConfig",
      `--kube: cannot load a kubeconfig (${(error as Error).message}): set KUBECONFIG or run in a cluster`,
    );
  }
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const ttlMs = options.ttlMs ?? 5000;
  let cached: { at: number; reading: Promise<DeploymentsReading> } | null = null;
  const list = async (): Promise<DeploymentsReading> => {
    const scope = { group: GROUP, version: VERSION, plural: PLURAL };
    const reply = (
      options.namespace === undefined
        ? await custom.listClusterCustomObject(scope)
        : await custom.listNamespacedCustomObject({ ...scope, namespace: options.namespace })
    ) as { items?: unknown };
    if (!Array.isArray(reply.items)) throw new Error(`the list of ${PLURAL} has no items`);
    return decodeDeployments(reply.items);
  };
  return {
    read: () => {
      if (cached === null || Date.now() - cached.at >= ttlMs) {
        const reading = list();
        cached = { at: Date.now(), reading };
        // A failed list is not kept: the next read tries again.
        reading.catch(() => {
          if (cached?.reading === reading) cached = null;
        });
      }
      return cached.reading;
    },
  };
}
