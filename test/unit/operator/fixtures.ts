// A WorkflowDeployment as the API server returns it (defaults filled), for the pure-part tests.
import { Value } from "@sinclair/typebox/value";
import {
  API_VERSION,
  KIND,
  WorkflowDeploymentSpecSchema,
  type WorkflowDeployment,
  type WorkflowDeploymentSpec,
} from "../../../operator/api/workflow-deployment.ts";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function workflowDeployment(spec: DeepPartial<WorkflowDeploymentSpec> = {}): WorkflowDeployment {
  const withRequired = {
    workflow: "orders",
    image: "example/orders:1",
    module: "/app/orders.js",
    ...spec,
    redis: { url: "redis://redis:6379", ...spec.redis },
  };
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: "orders", namespace: "shop", uid: "uid-1", generation: 3 },
    spec: Value.Default(
      WorkflowDeploymentSpecSchema,
      structuredClone(withRequired),
    ) as WorkflowDeploymentSpec,
  };
}
