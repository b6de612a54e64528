// The WorkflowDeployment API: one TypeBox schema gives both the TypeScript types the operator
// uses and the OpenAPI schema of the CRD (operator/api/crd.ts, `npm run gen:crd`). Fields with
// a default are listed as required: the API server fills defaults before it validates, so a
// stored object always has them and the operator reads them without `?? fallback` copies.
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named so tsc's declaration emit (dist/*.d.ts) can spell the schemas' types (TS4023)
import type { Hint, Kind, OptionalKind, ReadonlyKind } from "@sinclair/typebox";
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { DURABILITIES, MAX_PARTITIONS } from "../../contract/index.ts";
import {
  bool,
  int,
  oneOfStrings,
  openObject,
  quantity,
  quantityMap,
  stringMap,
  text,
  withRules,
} from "./schema-helpers.ts";

export const GROUP = "floxide.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "WorkflowDeployment";
export const PLURAL = "workflowdeployments";
export const SINGULAR = "workflowdeployment";
export const SHORT_NAMES = ["wfd"] as const;

/**
 * An object every field of which has a default: absent, it defaults to all those defaults (the
 * API server validates a default as given, it does not default inside it).
 */
function defaultedObject<T extends TSchema>(schema: T): T {
  return { ...schema, default: Value.Default(schema, {}) };
}

const SecretKeyRef = Type.Object(
  {
    name: text("Name of a Secret in the WorkflowDeployment's namespace.", { minLength: 1, maxLength: 253 }),
    key: text("Key inside the Secret.", { minLength: 1, maxLength: 253 }),
  },
  { description: "A key of a Secret in the same namespace." },
);

const RedisSpec = withRules(
  Type.Object(
    {
      url: Type.Optional(
        text(
          "Redis URL, `redis://[user:pass@]host:port[/db]` or `rediss://` for TLS. Exactly one of url and urlSecretRef.",
          { pattern: "^rediss?://", maxLength: 2048 },
        ),
      ),
      urlSecretRef: Type.Optional({
        ...SecretKeyRef,
        description: "The Redis URL read from a Secret key (when it carries credentials).",
      }),
      username: Type.Optional(text("Redis ACL user name (overrides the URL's).", { maxLength: 256 })),
      passwordSecretRef: Type.Optional({
        ...SecretKeyRef,
        description: "Redis password from a Secret key (overrides the URL's).",
      }),
      mode: oneOfStrings(
        "How to connect: one server, a Redis Cluster (the URL is a seed node), or Sentinel.",
        ["standalone", "cluster", "sentinel"] as const,
        "standalone",
      ),
      sentinelName: Type.Optional(
        text("Sentinel master group name; required when mode is sentinel.", { minLength: 1, maxLength: 256 }),
      ),
      tls: Type.Optional(
        Type.Object(
          {
            caSecretRef: Type.Optional({
              ...SecretKeyRef,
              description: "PEM CA certificate that signed Redis' certificate, mounted into the workers.",
            }),
          },
          { description: "TLS settings beyond `rediss://` (which turns TLS on)." },
        ),
      ),
    },
    { description: "The Redis the workers share (and the operator reads the backlog from)." },
  ),
  [
    {
      rule: "has(self.url) != has(self.urlSecretRef)",
      message: "exactly one of spec.redis.url and spec.redis.urlSecretRef must be set",
      reason: "FieldValueRequired",
    },
    {
      rule: "self.mode != 'sentinel' || has(self.sentinelName)",
      message: "spec.redis.sentinelName is required when spec.redis.mode is sentinel",
      fieldPath: ".sentinelName",
      reason: "FieldValueRequired",
    },
  ],
);

const RolloutSpec = defaultedObject(
  withRules(
    Type.Object(
      {
        rampPercent: int(
          "Share (percent) of new runs sent to a new spec.version for rampSeconds before it takes all of them; 0 moves every new run at once. Default 0.",
          { minimum: 0, maximum: 100, default: 0 },
        ),
        rampSeconds: int("How long the ramp lasts. Default 0.", { minimum: 0, maximum: 2592000, default: 0 }),
        retireAfterSeconds: int(
          "An old version's Deployment is deleted once its backlog and in-flight items have been zero this long. Default 60.",
          { minimum: 0, maximum: 2592000, default: 60 },
        ),
      },
      {
        description:
          "How a new spec.version takes over: runs stay pinned to the version they started on, old versions drain and are retired.",
      },
    ),
    [
      {
        rule: "self.rampPercent == 0 || self.rampSeconds > 0",
        message: "spec.rollout.rampSeconds must be positive when rampPercent is set",
        fieldPath: ".rampSeconds",
      },
    ],
  ),
);

const ScalingSpec = defaultedObject(
  withRules(
    Type.Object(
      {
        enabled: bool(
          "Scale on the backlog. When false, spec.replicas (and `kubectl scale wfd`) decide. Default true.",
          true,
        ),
        minReplicas: int("Fewest worker pods; 0 lets the workflow scale to zero when idle. Default 0.", {
          minimum: 0,
          maximum: 10000,
          default: 0,
        }),
        maxReplicas: int("Most worker pods. Default 10.", { minimum: 1, maximum: 10000, default: 10 }),
        targetPerReplica: int(
          "Backlog items (ready + in flight) one pod is expected to handle: desired = ceil(backlog / target). Default 10.",
          { minimum: 1, maximum: 1000000, default: 10 },
        ),
        activationThreshold: int(
          "From zero pods, scale to one only when the backlog is greater than this. Default 0 (any item).",
          { minimum: 0, maximum: 1000000, default: 0 },
        ),
        pollIntervalSeconds: int("How often the backlog is read from Redis. Default 15.", {
          minimum: 1,
          maximum: 3600,
          default: 15,
        }),
        scaleUpStabilizationSeconds: int(
          "Scale up to the lowest recommendation of this window (0 = at once). Default 0.",
          { minimum: 0, maximum: 3600, default: 0 },
        ),
        scaleDownStabilizationSeconds: int(
          "Scale down only to the highest recommendation of this window, so a dip does not flap. Default 300.",
          { minimum: 0, maximum: 3600, default: 300 },
        ),
        cooldownSeconds: int(
          "Scale to zero only after the backlog has been empty this long (minReplicas 0 only). Default 300.",
          { minimum: 0, maximum: 86400, default: 300 },
        ),
      },
      { description: "Backlog-driven autoscaling." },
    ),
    [
      {
        rule: "self.minReplicas <= self.maxReplicas",
        message: "spec.scaling.minReplicas must be less than or equal to spec.scaling.maxReplicas",
        fieldPath: ".minReplicas",
      },
    ],
  ),
);

const EnvVar = Type.Object(
  {
    name: text("Variable name.", { minLength: 1, maxLength: 256 }),
    value: Type.Optional(text("Literal value.")),
    valueFrom: Type.Optional(openObject("A core/v1 EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef).")),
  },
  { description: "An extra environment variable of the worker container." },
);

const PodTemplateOverrides = Type.Object(
  {
    metadata: Type.Optional(
      Type.Object(
        {
          labels: Type.Optional(stringMap("Extra pod labels.")),
          annotations: Type.Optional(stringMap("Extra pod annotations.")),
        },
        { description: "Extra pod labels and annotations." },
      ),
    ),
    spec: Type.Optional(
      openObject(
        "core/v1 PodSpec fields that replace the generated ones; a container named `worker` is merged " +
          "into the worker container, other containers are added as sidecars.",
      ),
    ),
  },
  { description: "Overrides applied last to the generated pod template." },
);

export const WorkflowDeploymentSpecSchema = withRules(
  Type.Object(
    {
      workflow: withRules(
        text("Workflow name: the Redis keys and the queue the workers serve. Immutable.", {
          minLength: 1,
          maxLength: 200,
          pattern: "^[^{}\\s#]+$",
        }),
        [{ rule: "self == oldSelf", message: "spec.workflow is immutable" }],
      ),
      image: text("Worker image: FROM the floxide worker base, with the workflow module in it.", {
        minLength: 1,
        maxLength: 1024,
      }),
      imagePullPolicy: Type.Optional(
        oneOfStrings("Image pull policy of the worker container.", [
          "Always",
          "IfNotPresent",
          "Never",
        ] as const),
      ),
      imagePullSecrets: Type.Optional(
        Type.Array(
          Type.Object(
            { name: text("Name of a docker-registry Secret.", { minLength: 1, maxLength: 253 }) },
            { description: "A registry credential Secret." },
          ),
          { description: "Registry credentials for the worker image.", maxItems: 16 },
        ),
      ),
      module: text("Path of the workflow module inside the image (FLOXIDE_WORKFLOW).", {
        minLength: 1,
        maxLength: 1024,
      }),
      version: Type.Optional(
        text(
          "The `version` the workflow module declares (FLOXIDE_WORKFLOW_VERSION): a worker whose module declares another refuses to start. Runs are pinned to the version they started on; changing it starts a worker Deployment for the new version and drains the old one.",
          { pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", minLength: 1, maxLength: 40 },
        ),
      ),
      args: Type.Optional(
        Type.Array(text("An argument."), {
          description: "Extra arguments after `floxide worker`.",
          maxItems: 64,
        }),
      ),
      env: Type.Optional(
        withRules(
          Type.Array(EnvVar, {
            description:
              "Extra environment variables (not FLOXIDE_* or POD_NAME: those come from this spec).",
            maxItems: 100,
          }),
          [
            {
              rule: "self.all(e, !e.name.startsWith('FLOXIDE_') && e.name != 'POD_NAME')",
              message: "spec.env must not set FLOXIDE_* or POD_NAME: the operator sets them from the spec",
            },
          ],
        ),
      ),
      resources: Type.Optional(
        Type.Object(
          {
            requests: Type.Optional(quantityMap("Requested resources (cpu, memory, ...).")),
            limits: Type.Optional(quantityMap("Resource limits.")),
          },
          { description: "Resources of the worker container." },
        ),
      ),
      nodeSelector: Type.Optional(stringMap("Node labels the worker pods must land on.")),
      tolerations: Type.Optional(
        Type.Array(openObject("A core/v1 Toleration."), {
          description: "Tolerations of the worker pods.",
          maxItems: 64,
        }),
      ),
      affinity: Type.Optional(openObject("A core/v1 Affinity for the worker pods.")),
      serviceAccountName: Type.Optional(
        text("ServiceAccount of the worker pods (default: the namespace's default, without a token).", {
          maxLength: 253,
        }),
      ),
      podTemplate: Type.Optional(PodTemplateOverrides),
      concurrency: int("Steps one pod runs at once (FLOXIDE_CONCURRENCY). Default 4.", {
        minimum: 1,
        maximum: 1000,
        default: 4,
      }),
      keyPrefix: text("Prefix of every Redis key (FLOXIDE_KEY_PREFIX). Default floxide.", {
        minLength: 1,
        maxLength: 100,
        pattern: "^[^{}\\s]+$",
        default: "floxide",
      }),
      partitions: int(
        `Partitions of the workflow (FLOXIDE_PARTITIONS): each its own Redis Cluster slot, so its throughput grows with the cluster's masters; the backlog is their sum. Fixed once the workflow's keys exist in Redis (workers and the operator refuse another count). Default 1.`,
        { minimum: 1, maximum: MAX_PARTITIONS, default: 1 },
      ),
      logLevel: oneOfStrings(
        "Worker log level. Default info.",
        ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const,
        "info",
      ),
      leaseMs: Type.Optional(
        int("Lease on a claimed item in milliseconds (FLOXIDE_LEASE_MS); the worker's default when unset.", {
          minimum: 300,
          maximum: 3600000,
        }),
      ),
      durability: oneOfStrings(
        "When a step counts as done (FLOXIDE_DURABILITY): `fast` once the Redis master applied its commit (a " +
          "failover can lose the last acknowledged commits; their steps run again), `replicated` once a replica " +
          "acknowledged it too (WAIT after each commit call; needs a replica per master). Default fast.",
        DURABILITIES,
        "fast",
      ),
      drainTimeoutSeconds: int(
        "Seconds a worker lets in-flight steps finish after SIGTERM; the pod's grace period adds a margin. Default 30.",
        { minimum: 0, maximum: 86400, default: 30 },
      ),
      metricsPort: int("Port of the worker's /healthz, /readyz and /metrics. Default 8080.", {
        minimum: 1,
        maximum: 65535,
        default: 8080,
      }),
      redis: RedisSpec,
      replicas: Type.Optional(
        int("Worker pods when scaling is disabled; the scale subresource (`kubectl scale wfd`) writes it.", {
          minimum: 0,
          maximum: 10000,
        }),
      ),
      scaling: ScalingSpec,
      rollout: RolloutSpec,
      disruptionBudget: defaultedObject(
        Type.Object(
          {
            enabled: bool("Create a PodDisruptionBudget for the worker pods. Default true.", true),
            maxUnavailable: Type.Unsafe<string | number>({
              ...quantity(
                "Worker pods that voluntary disruptions (node drains) may take at once. Default 1.",
              ),
              default: 1,
            }),
          },
          { description: "Limits node drains; scale-in is not an eviction and is not limited by it." },
        ),
      ),
    },
    { description: "What to run and how to scale it." },
  ),
  [
    {
      rule: "self.scaling.enabled || has(self.replicas)",
      message: "spec.replicas is required when spec.scaling.enabled is false",
      fieldPath: ".replicas",
      reason: "FieldValueRequired",
    },
  ],
);

const ConditionSchema = Type.Object(
  {
    type: text("Ready, Scaling, StoreReachable or Degraded.", { maxLength: 316 }),
    status: oneOfStrings("True, False or Unknown.", ["True", "False", "Unknown"] as const),
    reason: text("CamelCase reason of the last transition.", { maxLength: 1024 }),
    message: text("Human-readable details.", { maxLength: 32768 }),
    lastTransitionTime: text("When the status last changed.", { format: "date-time" }),
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation the condition was computed from.", format: "int64" }),
    ),
  },
  { description: "A metav1.Condition." },
);

export const QueueDepthSchema = Type.Object(
  {
    ready: Type.Integer({ description: "Items waiting to be claimed.", format: "int64" }),
    inFlight: Type.Integer({ description: "Items leased by a worker.", format: "int64" }),
    delayed: Type.Integer({ description: "Items waiting for a retry.", format: "int64" }),
    dead: Type.Integer({ description: "Dead-lettered items.", format: "int64" }),
  },
  { description: "The workflow's queue in Redis at the last successful poll." },
);

/** The most versions status.versions lists (live ones first, then stranded, then retired). */
export const MAX_REPORTED_VERSIONS = 32;

export const VersionStatusSchema = Type.Object(
  {
    version: text("The workflow version."),
    state: oneOfStrings(
      "current: takes new runs; ramping: takes the ramp's share; draining: serves its pinned runs only; retired: its Deployment was deleted.",
      ["current", "ramping", "draining", "retired"] as const,
    ),
    replicas: int("Worker pods of the version."),
    desiredReplicas: int("Worker pods the scaler wants for the version."),
    backlog: Type.Optional(int("Items of the version ready, in flight or waiting for a retry.")),
    drainedSince: Type.Optional(
      text("Since when a draining version's backlog is zero.", { format: "date-time" }),
    ),
    retiredTime: Type.Optional(text("When the version was retired.", { format: "date-time" })),
    stranded: Type.Optional(
      bool("Items of the version are left and it has no Deployment: they wait for a worker of the version."),
    ),
  },
  { description: "One version of the workflow." },
);

export const WorkflowDeploymentStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({ description: "metadata.generation this status describes.", format: "int64" }),
    ),
    replicas: Type.Optional(int("Worker pods that exist (the Deployment's status.replicas).")),
    readyReplicas: Type.Optional(int("Worker pods that are ready.")),
    desiredReplicas: Type.Optional(int("Worker pods the scaler wants.")),
    busyWorkers: Type.Optional(int("Workers holding leases at the last poll.")),
    backlog: Type.Optional(QueueDepthSchema),
    lastPollTime: Type.Optional(text("Last successful backlog read.", { format: "date-time" })),
    lastActiveTime: Type.Optional(text("Last time the backlog was not empty.", { format: "date-time" })),
    lastScaleTime: Type.Optional(text("Last time the replica count changed.", { format: "date-time" })),
    selector: Type.Optional(text("Label selector of the worker pods (for the scale subresource).")),
    currentVersion: Type.Optional(
      text("The version new runs are pinned to (spec.version once it took over)."),
    ),
    drainingVersions: Type.Optional(int("Old versions still serving their pinned runs.")),
    versions: Type.Optional(
      Type.Unsafe<Static<typeof VersionStatusSchema>[]>({
        ...Type.Array(VersionStatusSchema, {
          description: "Each live version and the last retired ones.",
          maxItems: MAX_REPORTED_VERSIONS,
        }),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["version"],
      }),
    ),
    conditions: Type.Optional(
      Type.Unsafe<Static<typeof ConditionSchema>[]>({
        ...Type.Array(ConditionSchema, { description: "Ready, Scaling, StoreReachable, Degraded." }),
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
    ),
  },
  { description: "What the operator observed and did." },
);

export type WorkflowDeploymentSpec = Static<typeof WorkflowDeploymentSpecSchema>;
export type WorkflowDeploymentStatus = Static<typeof WorkflowDeploymentStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type ConditionStatus = Condition["status"];
export type RedisSpec = Static<typeof RedisSpec>;
export type ScalingSpec = Static<typeof ScalingSpec>;
export type RolloutSpec = Static<typeof RolloutSpec>;
export type VersionStatus = Static<typeof VersionStatusSchema>;
export type SecretKeyRef = Static<typeof SecretKeyRef>;

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string | Date;
}

/** A WorkflowDeployment as read from the API server (defaults filled in). */
export interface WorkflowDeployment {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: WorkflowDeploymentSpec;
  status?: WorkflowDeploymentStatus;
}
