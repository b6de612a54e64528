// Every option of `floxide operator`: flags win over environment variables, which win over
// the defaults. The same option-table machinery as the worker (contract/options.ts).
import { hostname } from "node:os";
import {
  httpOptions,
  InvalidConfigError,
  LOG_LEVEL_OPTION,
  resolveOptions,
  type OptionTable,
  type ParsedOptions,
  type RawOptions,
} from "../contract/index.ts";

export const OPERATOR_OPTIONS = {
  namespaces: {
    flag: "namespaces",
    env: "FLOXIDE_OPERATOR_NAMESPACES",
    type: "string",
    default: "",
    description: "Comma-separated namespaces to watch; empty = all namespaces.",
  },
  leaderElect: {
    flag: "leader-elect",
    env: "FLOXIDE_OPERATOR_LEADER_ELECT",
    type: "enum",
    values: ["true", "false"],
    default: "true",
    description: "Elect a leader with a Lease so several replicas can run and one acts.",
  },
  leaseNamespace: {
    flag: "lease-namespace",
    env: "POD_NAMESPACE",
    type: "string",
    default: "floxide-system",
    description: "Namespace of the leader-election Lease (the operator's own namespace).",
  },
  leaseName: {
    flag: "lease-name",
    env: "FLOXIDE_OPERATOR_LEASE_NAME",
    type: "string",
    default: "floxide-operator",
    description: "Name of the leader-election Lease.",
  },
  leaseDurationSeconds: {
    flag: "lease-duration",
    env: "FLOXIDE_OPERATOR_LEASE_DURATION",
    type: "int",
    default: 15,
    min: 2,
    max: 300,
    description: "Seconds a standby waits after the last renewal before taking the Lease.",
  },
  renewDeadlineSeconds: {
    flag: "renew-deadline",
    env: "FLOXIDE_OPERATOR_RENEW_DEADLINE",
    type: "int",
    default: 10,
    min: 1,
    max: 300,
    description: "Seconds the leader keeps acting without a successful renewal.",
  },
  retryPeriodSeconds: {
    flag: "retry-period",
    env: "FLOXIDE_OPERATOR_RETRY_PERIOD",
    type: "int",
    default: 2,
    min: 1,
    max: 60,
    description: "Seconds between Lease renewals / acquisition attempts.",
  },
  identity: {
    flag: "identity",
    env: "POD_NAME",
    type: "string",
    default: "",
    description: "This replica's identity in the Lease (default: the host name plus the process id).",
  },
  concurrency: {
    flag: "concurrency",
    env: "FLOXIDE_OPERATOR_CONCURRENCY",
    type: "int",
    default: 4,
    min: 1,
    max: 64,
    description: "WorkflowDeployments reconciled at once.",
  },
  resyncSeconds: {
    flag: "resync",
    env: "FLOXIDE_OPERATOR_RESYNC",
    type: "int",
    default: 300,
    min: 10,
    max: 86400,
    description: "Every WorkflowDeployment is reconciled at least this often, events or not.",
  },
  ...httpOptions("FLOXIDE_OPERATOR"),
  kubeconfig: {
    flag: "kubeconfig",
    env: "KUBECONFIG",
    type: "string",
    default: "",
    description:
      "kubeconfig file; empty = the in-cluster ServiceAccount (or ~/.kube/config outside a cluster).",
  },
  logLevel: LOG_LEVEL_OPTION,
} as const satisfies OptionTable;

export type RawOperatorConfig = ParsedOptions<typeof OPERATOR_OPTIONS>;

export interface OperatorConfig extends Omit<RawOperatorConfig, "namespaces" | "leaderElect"> {
  readonly namespaces: readonly string[];
  readonly leaderElect: boolean;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** From the flags (option name -> text) and the environment; throws InvalidConfigError listing every problem. */
export function loadOperatorConfig(flags: RawOptions, env: RawOptions): OperatorConfig {
  const raw = resolveOptions(OPERATOR_OPTIONS, flags, env);
  const namespaces = raw.namespaces
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const bad = namespaces.filter((name) => !DNS_LABEL.test(name));
  const problems = [
    ...(bad.length > 0 ? [`--namespaces: not namespace names: ${bad.join(", ")}`] : []),
    ...(raw.renewDeadlineSeconds >= raw.leaseDurationSeconds
      ? ["--renew-deadline must be shorter than --lease-duration"]
      : []),
  ];
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return {
    ...raw,
    namespaces,
    leaderElect: raw.leaderElect === "true",
    identity: raw.identity || `${hostname()}-${process.pid}`,
  };
}
