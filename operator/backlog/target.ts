// Where a WorkflowDeployment's backlog lives: its Redis connection (with the URL, password and
// CA resolved from Secrets the way the workers get them) plus the workflow and key prefix.
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { redisConnectionFrom } from "../../contract/index.ts";
import type { RedisConnectionOptions } from "../../worker/store/index.ts";
import type { SecretKeyRef, WorkflowDeployment } from "../api/workflow-deployment.ts";
import { describeApiError } from "../kube/cluster.ts";
import type { BacklogTarget } from "./reader.ts";

export interface SecretReader {
  /** The decoded value of a Secret key; throws with a message naming the Secret and key. */
  read(namespace: string, ref: SecretKeyRef): Promise<string>;
}

export async function backlogTarget(wfd: WorkflowDeployment, secrets: SecretReader): Promise<BacklogTarget> {
  const { namespace } = wfd.metadata;
  const { redis } = wfd.spec;
  // The same settings the worker pods get, mapped by the same contract function.
  const connection: RedisConnectionOptions = redisConnectionFrom({
    redisUrl: redis.url ?? (await secrets.read(namespace, redis.urlSecretRef!)),
    redisUsername: redis.username,
    redisPassword: redis.passwordSecretRef
      ? await secrets.read(namespace, redis.passwordSecretRef)
      : undefined,
    redisTlsCaFile: redis.tls?.caSecretRef ? await secrets.read(namespace, redis.tls.caSecretRef) : undefined,
    redisMode: redis.mode,
    redisSentinelName: redis.sentinelName,
  });
  return {
    key: `${namespace}/${wfd.metadata.name}`,
    workflow: wfd.spec.workflow,
    prefix: wfd.spec.keyPrefix,
    partitions: wfd.spec.partitions,
    connection,
  };
}

/** Reads Secrets through the API server, caching each for `ttlMs` (default 30 s). */
export function apiSecretReader(kubeConfig: KubeConfig, ttlMs = 30_000): SecretReader {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const cache = new Map<string, { at: number; data: Record<string, string> }>();
  return {
    async read(namespace, ref) {
      const cacheKey = `${namespace}/${ref.name}`;
      let entry = cache.get(cacheKey);
      if (!entry || Date.now() - entry.at > ttlMs) {
        try {
          const secret = await core.readNamespacedSecret({ namespace, name: ref.name });
          entry = { at: Date.now(), data: secret.data ?? {} };
          cache.set(cacheKey, entry);
        } catch (error) {
          throw new Error(`cannot read Secret ${namespace}/${ref.name}: ${describeApiError(error)}`, {
            cause: error,
          });
        }
      }
      const value = entry.data[ref.key];
      if (value === undefined) throw new Error(`Secret ${namespace}/${ref.name} has no key ${ref.key}`);
      return Buffer.from(value, "base64").toString("utf8");
    },
  };
}
