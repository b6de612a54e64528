import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { WorkflowDeploymentSpecSchema } from "../../operator/api/workflow-deployment.ts";
import { OPERATOR_OPTIONS } from "../../operator/config.ts";
import { WORKER_OPTIONS } from "../../contract/index.ts";
import { CONFIG_DOC, renderConfigurationReference, schemaFields } from "../../scripts/gen-config-docs.ts";

test("docs/configuration.md is generated from the option tables and the CRD schema, and up to date", () => {
  assert.equal(
    readFileSync(CONFIG_DOC, "utf8"),
    renderConfigurationReference(),
    "run `npm run gen:docs` and commit the result",
  );
});

test("the reference lists every worker and operator option and the WorkflowDeployment spec fields", () => {
  const doc = renderConfigurationReference();
  const specs: { flag: string; env?: string }[] = [
    ...Object.values(WORKER_OPTIONS),
    ...Object.values(OPERATOR_OPTIONS),
  ];
  for (const spec of specs) {
    assert.ok(doc.includes(`| \`--${spec.flag}\` | \`${spec.env}\` |`), `option --${spec.flag}`);
  }
  for (const field of [
    "spec.workflow",
    "spec.redis.url",
    "spec.scaling.cooldownSeconds",
    "spec.env[].name",
  ]) {
    assert.ok(doc.includes(`| \`${field}\` |`), field);
  }
});

test("CRD fields show their type, default or presence, description, bounds and CEL rules", () => {
  const rows = new Map(schemaFields(WorkflowDeploymentSpecSchema, "spec").map((row) => [row.path, row]));
  assert.deepEqual(rows.get("spec.scaling.minReplicas"), {
    path: "spec.scaling.minReplicas",
    type: "integer",
    presence: "default `0`",
    meaning: "Fewest worker pods; 0 lets the workflow scale to zero when idle. Default 0. Range 0 to 10000.",
  });
  assert.equal(rows.get("spec.image")?.presence, "required");
  assert.equal(rows.get("spec.replicas")?.presence, "optional");
  assert.equal(rows.get("spec.scaling")?.presence, "defaulted");
  assert.equal(rows.get("spec.redis.mode")?.type, "string (enum)");
  assert.equal(rows.get("spec.resources.limits")?.type, "map of int or string");
  assert.match(rows.get("spec.workflow")?.meaning ?? "", /Rule: spec\.workflow is immutable\./);
});
