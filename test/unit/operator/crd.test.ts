import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { CRD_FILE, workflowDeploymentCrd, workflowDeploymentCrdYaml } from "../../../operator/api/crd.ts";
import { KIND, WorkflowDeploymentSpecSchema } from "../../../operator/api/workflow-deployment.ts";

const root = new URL("../../../", import.meta.url);

test("the committed CRD YAML is the one generated from the TypeScript schema (npm run gen:crd)", () => {
  assert.equal(readFileSync(new URL(CRD_FILE, root), "utf8"), workflowDeploymentCrdYaml());
});

test("every schema node has a type (or int-or-string / preserve-unknown-fields) and a description", () => {
  const crd = workflowDeploymentCrd() as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[] };
  };
  const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
  const problems: string[] = [];
  const visit = (node: Record<string, unknown>, path: string, describe: boolean): void => {
    const open = node["x-kubernetes-int-or-string"] === true;
    if (!open && typeof node.type !== "string") problems.push(`${path}: no type`);
    if (describe && typeof node.description !== "string") problems.push(`${path}: no description`);
    if ("patternProperties" in node || "anyOf" in node || "const" in node)
      problems.push(`${path}: not structural`);
    for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, object>)) {
      visit(child as Record<string, unknown>, `${path}.${name}`, true);
    }
    if (node.items) visit(node.items as Record<string, unknown>, `${path}[]`, false);
  };
  visit(schema.properties.spec as Record<string, unknown>, "spec", true);
  visit(schema.properties.status as Record<string, unknown>, "status", true);
  assert.deepEqual(problems, []);
});

test("crds/examples has a minimal example and a full one that sets every spec field", () => {
  const dir = new URL("crds/examples/", root);
  const specs = new Map<string, Record<string, unknown>>();
  for (const file of readdirSync(dir).filter((name) => name.endsWith(".yaml"))) {
    for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), "utf8"))) {
      const object = doc.toJS() as { kind: string; spec: Record<string, unknown> };
      if (object.kind === KIND) specs.set(file, object.spec);
    }
  }
  const minimal = specs.get("minimal.yaml");
  const full = specs.get("full.yaml");
  assert.ok(minimal && full, "minimal.yaml and full.yaml");
  const required = WorkflowDeploymentSpecSchema.required ?? [];
  const defaulted = Object.entries(WorkflowDeploymentSpecSchema.properties)
    .filter(([, schema]) => "default" in schema)
    .map(([name]) => name);
  assert.deepEqual(Object.keys(minimal).sort(), required.filter((name) => !defaulted.includes(name)).sort());
  const unset = Object.keys(WorkflowDeploymentSpecSchema.properties).filter(
    (name) => !(name in full) && name !== "replicas",
  );
  assert.deepEqual(unset, [], "fields the full example leaves out");
});
