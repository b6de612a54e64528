// A headless Service over the worker pods: one DNS record and one scrape target per pod, for a
// ServiceMonitor or any Prometheus that discovers endpoints.
import type { V1Service } from "@kubernetes/client-node";
import type { WorkflowDeployment } from "../api/workflow-deployment.ts";
import { childMetadata, METRICS_PORT_NAME, selectorLabels } from "./labels.ts";

export function buildService(wfd: WorkflowDeployment): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: childMetadata(wfd),
    spec: {
      clusterIP: "None",
      selector: selectorLabels(wfd),
      ports: [
        {
          name: METRICS_PORT_NAME,
          port: wfd.spec.metricsPort,
          targetPort: METRICS_PORT_NAME,
          protocol: "TCP",
        },
      ],
    },
  };
}
