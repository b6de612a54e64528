// Names and labels shared by every object the operator builds for a WorkflowDeployment.
import type { V1OwnerReference } from "@kubernetes/client-node";
import { API_VERSION, KIND, type WorkflowDeployment } from "../api/workflow-deployment.ts";

export const FIELD_MANAGER = "floxide-operator";
export const MANAGED_BY = "floxide-operator";
export const WFD_LABEL = "floxide.dev/workflow-deployment";
export const WORKFLOW_LABEL = "floxide.dev/workflow";
/** The workflow version a worker Deployment and its pods run (one Deployment per version). */
export const VERSION_LABEL = "floxide.dev/version";
export const COMPONENT = "floxide-worker";
export const METRICS_PORT_NAME = "metrics";

/** Labels that select a WorkflowDeployment's worker pods (immutable once the Deployment exists). */
export function selectorLabels(wfd: WorkflowDeployment): Record<string, string> {
  return { "app.kubernetes.io/name": COMPONENT, [WFD_LABEL]: wfd.metadata.name };
}

export function commonLabels(wfd: WorkflowDeployment): Record<string, string> {
  return {
    ...selectorLabels(wfd),
    "app.kubernetes.io/instance": wfd.metadata.name,
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/part-of": "floxide",
    [WORKFLOW_LABEL]: wfd.spec.workflow,
  };
}

/**
 * The worker Deployment of one version: `<name>-<version>` (spec.version is a lowercase DNS-like
 * name, the CRD checks). Without spec.version, the one Deployment is named after the resource.
 */
export function deploymentName(
  wfd: WorkflowDeployment,
  version: string | undefined = wfd.spec.version,
): string {
  return version === undefined ? wfd.metadata.name : `${wfd.metadata.name}-${version}`;
}

/** The version's pods: the resource's selector and the version label. */
export function versionSelectorLabels(
  wfd: WorkflowDeployment,
  version: string | undefined,
): Record<string, string> {
  return version === undefined ? selectorLabels(wfd) : { ...selectorLabels(wfd), [VERSION_LABEL]: version };
}

/** The string form of the selector, for status.selector (the scale subresource). */
export function selectorString(wfd: WorkflowDeployment): string {
  return Object.entries(selectorLabels(wfd))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export function ownerReference(wfd: WorkflowDeployment): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: wfd.metadata.name,
    uid: wfd.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function childMetadata(wfd: WorkflowDeployment, name = wfd.metadata.name) {
  return {
    name,
    namespace: wfd.metadata.namespace,
    labels: commonLabels(wfd),
    ownerReferences: [ownerReference(wfd)],
  };
}
