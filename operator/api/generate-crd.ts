// `npm run gen:crd`: writes the CRD YAML from the TypeBox schema (`--check` only compares).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { scriptArgs } from "../../common/script-args.ts";
import { CRD_FILE, workflowDeploymentCrdYaml } from "./crd.ts";

const check = scriptArgs(
  `usage: npm run gen:crd [-- --check]\n  writes ${CRD_FILE} from the TypeBox schema; --check only compares (exit 1 when out of date)\n`,
  { flags: ["--check"] },
).includes("--check");
const path = fileURLToPath(new URL(`../../${CRD_FILE}`, import.meta.url));
const generated = workflowDeploymentCrdYaml();
if (check) {
  const current = readFileSync(path, "utf8");
  if (current !== generated) {
    console.error(`${CRD_FILE} is out of date: run npm run gen:crd`);
    process.exit(1);
  }
} else {
  writeFileSync(path, generated);
  console.log(`wrote ${CRD_FILE}`);
}
