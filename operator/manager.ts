// The manager: informers, work queue, backlog poller and leader election around the
// Reconciler, which sees none of them. Every replica keeps its caches warm; only the Lease
// holder reconciles and polls.
import {
  AppsV1Api,
  CustomObjectsApi,
  makeInformer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Deployment,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, KIND, PLURAL, VERSION, type WorkflowDeployment } from "./api/workflow-deployment.ts";
import { RedisBacklogReader, type BacklogReader, type VersionWriter } from "./backlog/reader.ts";
import { apiSecretReader, backlogTarget, type SecretReader } from "./backlog/target.ts";
import { MANAGED_BY } from "./build/labels.ts";
import { BacklogPoller } from "./controller/backlog-poller.ts";
import { Reconciler, splitKey } from "./controller/reconciler.ts";
import { ScalerState } from "./controller/scaler-state.ts";
import { kubernetesCluster } from "./kube/cluster.ts";
import type { OperatorMetrics } from "./metrics.ts";
import { LeaderElector } from "./runtime/leader-election.ts";
import { ResilientInformer, type InformerLike } from "./runtime/resilient-informer.ts";
import { WorkQueue } from "./runtime/work-queue.ts";

export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespaces to watch; empty = all. */
  readonly namespaces: readonly string[];
  readonly identity: string;
  readonly leaderElection?: {
    readonly namespace: string;
    readonly name: string;
    readonly leaseDurationSeconds?: number;
    readonly renewDeadlineSeconds?: number;
    readonly retryPeriodSeconds?: number;
  };
  readonly concurrency?: number;
  readonly resyncSeconds?: number;
  readonly pollTickMs?: number;
  readonly logger: Logger;
  readonly metrics: OperatorMetrics;
  readonly backlogReader?: BacklogReader & VersionWriter;
  readonly secrets?: SecretReader;
  /** Called when leadership is lost after being held (the process should exit). */
  readonly onLeadershipLost?: () => void;
}

export interface RunningOperator {
  readonly isLeader: () => boolean;
  readonly synced: () => boolean;
  /** Milliseconds since the poller or the queue last showed life. */
  readonly sinceProgressMs: () => number;
  stop(): Promise<void>;
}

const LABEL_SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY}`;

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { kubeConfig, logger, metrics } = options;
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const scopes: (string | undefined)[] =
    options.namespaces.length > 0 ? [...options.namespaces] : [undefined];
  let lastProgress = Date.now();
  const queue = new WorkQueue({
    concurrency: options.concurrency ?? 4,
    onError: (key, error, retryInMs) =>
      logger.warn({ err: error, workflowDeployment: key, retryInMs }, "Reconcile failed"),
    onDone: (_key, seconds, ok) => {
      lastProgress = Date.now();
      metrics.reconciles.inc({ outcome: ok ? "success" : "error" });
      metrics.reconcileDuration.observe(seconds);
      metrics.queueDepth.set(queue.length);
    },
  });

  const supervise = <T extends KubernetesObject>(
    name: string,
    create: () => InformerLike<T>,
    onEvent: (object: T) => void,
  ) =>
    new ResilientInformer<T>({
      name,
      create,
      onEvent: (_event, object) => onEvent(object),
      onRestart: (reason, error) => {
        metrics.informerRestarts.inc({ informer: name, reason });
        logger.warn({ err: error, informer: name, reason }, "Restarting informer");
      },
    });

  const enqueueOwner = (deployment: V1Deployment) => {
    const owner = deployment.metadata?.ownerReferences?.find((ref) => ref.kind === KIND && ref.controller);
    if (owner && deployment.metadata?.namespace) queue.add(`${deployment.metadata.namespace}/${owner.name}`);
  };
  const wfdInformers = scopes.map((namespace) =>
    supervise<WorkflowDeployment & KubernetesObject>(
      `workflowdeployments/${namespace ?? "*"}`,
      () =>
        makeInformer(
          kubeConfig,
          namespace
            ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`
            : `/apis/${GROUP}/${VERSION}/${PLURAL}`,
          async () =>
            (namespace
              ? await custom.listNamespacedCustomObject({
                  group: GROUP,
                  version: VERSION,
                  plural: PLURAL,
                  namespace,
                })
              : await custom.listClusterCustomObject({
                  group: GROUP,
                  version: VERSION,
                  plural: PLURAL,
                })) as KubernetesListObject<WorkflowDeployment & KubernetesObject>,
        ) as unknown as InformerLike<WorkflowDeployment & KubernetesObject>,
      (wfd) => queue.add(`${wfd.metadata.namespace}/${wfd.metadata.name}`),
    ),
  );
  const deploymentInformers = scopes.map((namespace) =>
    supervise<V1Deployment>(
      `deployments/${namespace ?? "*"}`,
      () =>
        makeInformer<V1Deployment>(
          kubeConfig,
          namespace ? `/apis/apps/v1/namespaces/${namespace}/deployments` : "/apis/apps/v1/deployments",
          () =>
            namespace
              ? apps.listNamespacedDeployment({ namespace, labelSelector: LABEL_SELECTOR })
              : apps.listDeploymentForAllNamespaces({ labelSelector: LABEL_SELECTOR }),
          LABEL_SELECTOR,
        ) as unknown as InformerLike<V1Deployment>,
      enqueueOwner,
    ),
  );
  const inScope = <T>(informers: ResilientInformer<KubernetesObject & T>[], namespace: string) =>
    informers[scopes.length === 1 && scopes[0] === undefined ? 0 : scopes.indexOf(namespace)];
  const state = new ScalerState();
  const reader =
    options.backlogReader ??
    new RedisBacklogReader({
      onConnectionError: (endpoint, error) =>
        logger.debug({ endpoint, err: error }, "Redis connection error"),
    });
  const secrets = options.secrets ?? apiSecretReader(kubeConfig);
  const reconciler = new Reconciler({
    cluster: kubernetesCluster(kubeConfig, options.identity),
    getWorkflowDeployment: (namespace, name) => inScope(wfdInformers, namespace)?.get(name, namespace),
    getDeployment: (namespace, name) => inScope(deploymentInformers, namespace)?.get(name, namespace),
    state,
    logger,
    metrics,
    versions: { writer: reader, target: (wfd) => backlogTarget(wfd, secrets) },
    resyncMs: (options.resyncSeconds ?? 300) * 1000,
  });
  const poller = new BacklogPoller({
    reader,
    secrets,
    state,
    list: () => wfdInformers.flatMap((informer) => informer.list()),
    onObserved: (key) => {
      lastProgress = Date.now();
      queue.add(key);
    },
    onPollError: (key, message) => {
      const [namespace, name] = splitKey(key);
      metrics.pollErrors.inc({ namespace, name });
      logger.warn({ workflowDeployment: key, error: message }, "Reading the backlog failed");
    },
    logger,
    ...(options.pollTickMs ? { tickMs: options.pollTickMs } : {}),
  });

  await Promise.all([...wfdInformers, ...deploymentInformers].map((informer) => informer.start()));
  logger.info({ namespaces: options.namespaces.length ? options.namespaces : "all" }, "Caches synced");

  let leading = false;
  const lead = () => {
    leading = true;
    metrics.leader.set(1);
    logger.info({ identity: options.identity }, "Started leading");
    for (const informer of wfdInformers) {
      for (const wfd of informer.list()) queue.add(`${wfd.metadata.namespace}/${wfd.metadata.name}`);
    }
    queue.start((key) => reconciler.reconcile(key));
    poller.start();
  };
  const elector = options.leaderElection
    ? new LeaderElector({
        kubeConfig,
        ...options.leaderElection,
        identity: options.identity,
        onStartedLeading: lead,
        onStoppedLeading: () => {
          if (!leading) return;
          leading = false;
          metrics.leader.set(0);
          logger.warn({ identity: options.identity }, "Stopped leading");
          void Promise.all([poller.stop(), queue.stop()]).then(() => options.onLeadershipLost?.());
        },
        onError: (error) => logger.warn({ err: error }, "Leader election round failed"),
      })
    : undefined;
  if (elector) elector.start();
  else lead();

  let stopping: Promise<void> | undefined;
  return {
    isLeader: () => leading,
    synced: () => [...wfdInformers, ...deploymentInformers].every((informer) => informer.synced),
    sinceProgressMs: () => (leading ? Date.now() - Math.max(lastProgress, poller.lastTickAt) : 0),
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all([poller.stop(), queue.stop()]);
        if (elector) {
          leading = false;
          await elector.stop();
        }
        await Promise.all([...wfdInformers, ...deploymentInformers].map((informer) => informer.stop()));
        await reader.close();
      })()),
  };
}
