/**
 * The options of `floxide ui` (the Redis options are the worker's own: contract/REDIS_OPTIONS).
 * Light on purpose: `floxide --help` and completion read this file without loading the server.
 */
import type { OptionTable } from "../../contract/index.ts";
import { OPERATOR_OPTIONS } from "../../operator/config.ts";

export const UI_OPTIONS = {
  port: {
    flag: "port",
    env: "FLOXIDE_UI_PORT",
    type: "int",
    default: 8090,
    min: 0,
    max: 65535,
    description: "HTTP port of the console (0 = any free port).",
  },
  host: {
    flag: "host",
    env: "FLOXIDE_UI_HOST",
    type: "string",
    default: "127.0.0.1",
    description: "Listen address. Any address but loopback needs --auth-token.",
  },
  authToken: {
    flag: "auth-token",
    env: "FLOXIDE_UI_AUTH_TOKEN",
    type: "string",
    secret: true,
    description:
      "Token every API call must carry (the page asks for it once). Required to listen beyond loopback.",
  },
  workflow: {
    flag: "workflow",
    env: "FLOXIDE_UI_WORKFLOW",
    type: "string",
    description:
      "Workflows to show, comma-separated: names, or modules (their graphs are drawn). Default: every workflow in the Redis.",
  },
  kubeNamespace: {
    flag: "kube-namespace",
    env: "FLOXIDE_UI_KUBE_NAMESPACE",
    type: "string",
    description:
      "With --kube: read the WorkflowDeployments of this namespace only. Default: every namespace.",
  },
  // With --kube; the operator's own option, so both find a cluster the same way.
  kubeconfig: OPERATOR_OPTIONS.kubeconfig,
} as const satisfies OptionTable;

/** `--read-only`: a switch, so it is not in the option table (whose values all take an argument). */
export const READ_ONLY_SWITCH = {
  flag: "read-only",
  env: "FLOXIDE_UI_READ_ONLY",
  description: "Hide every action (cancel, pause, resume, redrive, discard); the server refuses them too.",
} as const;

/** `--kube`: show each workflow's WorkflowDeployment replicas (a read-only list; needs RBAC `list`). */
export const KUBE_SWITCH = {
  flag: "kube",
  env: "FLOXIDE_UI_KUBE",
  description:
    "Show the WorkflowDeployments' desired/current replicas, read with $KUBECONFIG (or the pod's ServiceAccount in a cluster).",
} as const;
