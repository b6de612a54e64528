// Runs the pinned helm binary on the chart and parses what it renders. Shared by the chart's
// unit tests and its control-plane test (test/k8s/helm.test.ts).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { assetDirectories } from "../../support/control-plane.ts";

const execFileAsync = promisify(execFile);

export const CHART_DIR = fileURLToPath(new URL("../../../helm/floxide", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/** helm from the control-plane asset directories (test/k8s/assets.sh), else from PATH. */
export function helmBinary(): string {
  return (
    assetDirectories()
      .map((dir) => join(dir, "helm"))
      .find((path) => existsSync(path)) ?? "helm"
  );
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm; never throws on a non-zero exit (the result says). */
export async function helm(
  args: readonly string[],
  options: { kubeconfig?: string } = {},
): Promise<HelmResult> {
  const env = { ...process.env, HELM_CACHE_HOME: join(REPO_ROOT, "node_modules", ".cache", "helm") };
  try {
    const { stdout, stderr } = await execFileAsync(
      helmBinary(),
      [...args, ...(options.kubeconfig ? ["--kubeconfig", options.kubeconfig] : [])],
      { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message?: string };
    if (failed.code === "ENOENT") {
      throw new Error(
        `helm not found (looked in ${assetDirectories().join(", ")} and on PATH): ` +
          "run `bash scripts/provision.sh k8s` (npm test does) to install the pinned helm",
        { cause: error },
      );
    }
    return {
      code: typeof failed.code === "number" ? failed.code : 1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? "",
    };
  }
}

/** `--set`-style pairs and/or a values object (written as --set-json) to helm arguments. */
export function valueArgs(values: Record<string, unknown> = {}): string[] {
  return Object.entries(values).flatMap(([key, value]) => ["--set-json", `${key}=${JSON.stringify(value)}`]);
}

/** `helm template` of the chart; throws with helm's stderr when it fails. */
export async function renderChart(
  values: Record<string, unknown> = {},
  options: { release?: string; namespace?: string; chartDir?: string } = {},
): Promise<{ yaml: string; manifests: Manifest[] }> {
  const result = await helm([
    "template",
    options.release ?? "floxide",
    options.chartDir ?? CHART_DIR,
    "--namespace",
    options.namespace ?? "floxide-system",
    ...valueArgs(values),
  ]);
  if (result.code !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return { yaml: result.stdout, manifests: parseManifests(result.stdout) };
}

export function parseManifests(yaml: string): Manifest[] {
  return parseAllDocuments(yaml)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null && typeof manifest === "object");
}

export function findManifest(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (!found) {
    const have = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(", ");
    throw new Error(`no ${kind}${name ? `/${name}` : ""} rendered (have: ${have})`);
  }
  return found;
}

/** Non-default values that switch every optional part on. */
export const EVERYTHING_ON = {
  "operator.replicas": 2,
  "operator.podDisruptionBudget.enabled": true,
  "operator.extraArgs": ["--resync", "120"],
  "operator.extraEnv": [{ name: "NODE_OPTIONS", value: "--max-old-space-size=256" }],
  "operator.nodeSelector": { "kubernetes.io/os": "linux" },
  "operator.tolerations": [{ key: "dedicated", operator: "Equal", value: "ops", effect: "NoSchedule" }],
  "operator.podAnnotations": { "example.com/team": "platform" },
  "image.digest": `sha256:${"a".repeat(64)}`,
  imagePullSecrets: [{ name: "registry" }],
  commonLabels: { "example.com/owner": "platform" },
  "serviceAccount.annotations": { "example.com/role": "floxide" },
  "metrics.serviceMonitor.enabled": true,
  "metrics.serviceMonitor.labels": { release: "kube-prometheus-stack" },
  "metrics.podMonitor.enabled": true,
  "metrics.podMonitor.labels": { release: "kube-prometheus-stack" },
  "dashboards.enabled": true,
  "redis.enabled": true,
};
