/**
 * Writes docs/configuration.md from the option tables and the WorkflowDeployment schema, so the
 * reference cannot drift from the code (a test regenerates it and compares). Run: npm run gen:docs
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { scriptArgs } from "../common/script-args.ts";
import {
  API_VERSION,
  KIND,
  SHORT_NAMES,
  WorkflowDeploymentSpecSchema,
  WorkflowDeploymentStatusSchema,
} from "../operator/api/workflow-deployment.ts";
import { KUBE_SWITCH, READ_ONLY_SWITCH, UI_OPTIONS } from "../console/server/options.ts";
import { OPERATOR_OPTIONS } from "../operator/config.ts";
import { optionsReference, WORKER_OPTIONS } from "../contract/index.ts";

export const CONFIG_DOC = "docs/configuration.md";

/** The JSON-schema keywords the CRD schema uses (TypeBox schemas are plain JSON schema). */
interface SchemaNode {
  readonly type?: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly maxItems?: number;
  readonly pattern?: string;
  readonly format?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: SchemaNode;
  readonly additionalProperties?: SchemaNode | boolean;
  readonly "x-kubernetes-int-or-string"?: boolean;
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
  readonly "x-kubernetes-validations"?: readonly { rule: string; message: string }[];
}

export interface FieldRow {
  readonly path: string;
  readonly type: string;
  readonly presence: string;
  readonly meaning: string;
}

const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const code = (value: unknown): string => `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;

function typeOf(node: SchemaNode): string {
  if (node["x-kubernetes-int-or-string"] === true) return "int or string";
  if (node.enum !== undefined) return "string (enum)";
  if (node.type === "array") return `array of ${node.items === undefined ? "any" : typeOf(node.items)}`;
  if (node.type === "object" && typeof node.additionalProperties === "object")
    return `map of ${typeOf(node.additionalProperties)}`;
  if (node.type === "object" && node["x-kubernetes-preserve-unknown-fields"] === true)
    return "object (free-form)";
  return node.type ?? "any";
}

function constraints(node: SchemaNode): string {
  const parts: string[] = [];
  if (node.enum !== undefined) parts.push(`One of ${node.enum.map(code).join(", ")}.`);
  if (node.minimum !== undefined || node.maximum !== undefined)
    parts.push(`Range ${node.minimum ?? "-∞"} to ${node.maximum ?? "∞"}.`);
  if (node.pattern !== undefined) parts.push(`Pattern ${code(node.pattern)}.`);
  if (node.maxLength !== undefined) parts.push(`At most ${node.maxLength} characters.`);
  if (node.maxItems !== undefined) parts.push(`At most ${node.maxItems} items.`);
  if (node.format === "date-time") parts.push("RFC 3339 time.");
  for (const rule of node["x-kubernetes-validations"] ?? []) parts.push(`Rule: ${rule.message}.`);
  return parts.join(" ");
}

/** Every field under `node`, depth first, in declaration order. Free-form objects are leaves. */
export function schemaFields(node: SchemaNode, path: string): FieldRow[] {
  const rows: FieldRow[] = [];
  const visit = (parent: SchemaNode, prefix: string): void => {
    for (const [name, child] of Object.entries(parent.properties ?? {})) {
      const fieldPath = `${prefix}.${name}`;
      const required = parent.required?.includes(name) === true;
      const presence =
        child.default !== undefined && typeof child.default !== "object"
          ? `default ${code(child.default)}`
          : child.default !== undefined
            ? "defaulted"
            : required
              ? "required"
              : "optional";
      const meaning = [child.description ?? "", constraints(child)].filter((part) => part !== "").join(" ");
      rows.push({ path: fieldPath, type: typeOf(child), presence, meaning });
      if (child.properties !== undefined) visit(child, fieldPath);
      else if (child.type === "array" && child.items?.properties !== undefined)
        visit(child.items, `${fieldPath}[]`);
    }
  };
  visit(node, path);
  return rows;
}

function fieldTable(rows: readonly FieldRow[]): string {
  return [
    "| field | type | presence | meaning |",
    "| --- | --- | --- | --- |",
    ...rows.map((row) => `| \`${row.path}\` | ${row.type} | ${row.presence} | ${cell(row.meaning)} |`),
  ].join("\n");
}

function objectRules(node: SchemaNode): string[] {
  return (node["x-kubernetes-validations"] ?? []).map((rule) => `- ${rule.message} (\`${rule.rule}\`)`);
}

export function renderConfigurationReference(): string {
  const spec = WorkflowDeploymentSpecSchema as SchemaNode;
  const status = WorkflowDeploymentStatusSchema as SchemaNode;
  return [
    "# Configuration reference",
    "",
    "Generated by `npm run gen:docs` from the option tables and the WorkflowDeployment schema in the",
    "code; do not edit by hand.",
    "",
    "## Worker (`floxide worker`)",
    "",
    "Every option is a flag or an environment variable; a flag wins over the variable, which wins",
    "over the default. Invalid values stop the worker at start with every problem listed (exit 2).",
    "The operator sets these variables on the worker Deployment from the WorkflowDeployment spec.",
    "",
    optionsReference(WORKER_OPTIONS).trimEnd(),
    "",
    "## Operator (`floxide operator`)",
    "",
    "The same rules as the worker: a flag wins over the variable, which wins over the default;",
    "invalid values stop the operator at start with every problem listed (exit 2).",
    "",
    optionsReference(OPERATOR_OPTIONS).trimEnd(),
    "",
    "## Console (`floxide ui`)",
    "",
    "The worker's Redis options (`--redis`, `--key-prefix`, ...: see the worker above) and these.",
    `\`--${READ_ONLY_SWITCH.flag}\` (\`${READ_ONLY_SWITCH.env}\`, any value): ${READ_ONLY_SWITCH.description}`,
    "",
    `\`--${KUBE_SWITCH.flag}\` (\`${KUBE_SWITCH.env}\`, any value): ${KUBE_SWITCH.description}`,
    "",
    optionsReference(UI_OPTIONS).trimEnd(),
    "",
    `## WorkflowDeployment (\`${API_VERSION}\`, kind \`${KIND}\`, short name \`${SHORT_NAMES.join("`, `")}\`)`,
    "",
    "The API server fills every default before it validates, so a field marked with a default can be",
    'left out. "defaulted" objects default to the defaults of all their fields. The rules are CEL',
    "validations: `kubectl apply` rejects an object that breaks one, with the message shown.",
    "",
    "### spec",
    "",
    fieldTable(schemaFields(spec, "spec")),
    "",
    "Rules on the whole spec:",
    "",
    ...objectRules(spec),
    "",
    "### status (written by the operator)",
    "",
    fieldTable(schemaFields(status, "status")),
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  scriptArgs(
    `usage: npm run gen:docs\n  writes ${CONFIG_DOC} from the option tables and the WorkflowDeployment schema\n`,
  );
  writeFileSync(CONFIG_DOC, renderConfigurationReference());
  process.stdout.write(`wrote ${CONFIG_DOC}\n`);
}
