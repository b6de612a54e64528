// A PodDisruptionBudget limiting node drains. It does not limit scale-in (that is not an
// eviction); the pod-deletion cost and the workers' drain protect busy workers there.
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { WorkflowDeployment } from "../api/workflow-deployment.ts";
import { childMetadata, selectorLabels } from "./labels.ts";

/** undefined when spec.disruptionBudget.enabled is false. */
export function buildDisruptionBudget(wfd: WorkflowDeployment): V1PodDisruptionBudget | undefined {
  if (!wfd.spec.disruptionBudget.enabled) return undefined;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: childMetadata(wfd),
    spec: {
      maxUnavailable: wfd.spec.disruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(wfd) },
      // Pods that never became ready (crash-looping) may be evicted: they hold no work.
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
