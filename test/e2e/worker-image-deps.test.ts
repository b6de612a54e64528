// Dockerfile.worker leaves out production dependencies the worker never loads (those of
// `floxide operator`, which has its own image, and of build scripts). This checks, without building anything, that the worker's code never imports
// them: every module `floxide` can load (dynamic imports included) except the operator's entry
// and the console's Kubernetes module (`floxide ui --kube`, run from the operator image).
// The e2e suite then runs the image itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { REPO_ROOT } from "../support/images.ts";

/** The packages the worker image's deps stage uninstalls (`npm uninstall ... <names>`). */
function uninstalledByDockerfile(): string[] {
  const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile.worker"), "utf8").replaceAll("\\\n", " ");
  const command = /npm uninstall ([^&\n]+)/.exec(dockerfile)?.[1] ?? "";
  return command.split(/\s+/).filter((word) => word !== "" && !word.startsWith("-"));
}

const packageOf = (specifier: string): string =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

/** Bare packages imported by the modules reachable from `entry`, with one importing file each. */
function packagesReachable(entry: string, skip: (file: string) => boolean): Map<string, string> {
  const packages = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file) || skip(file)) return;
    seen.add(file);
    const imports = ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles;
    for (const { fileName } of imports) {
      if (fileName.startsWith(".")) {
        const target = resolve(dirname(file), fileName);
        if (existsSync(target)) visit(target);
      } else if (!fileName.startsWith("node:") && !packages.has(packageOf(fileName))) {
        packages.set(packageOf(fileName), relative(REPO_ROOT, file));
      }
    }
  };
  visit(entry);
  return packages;
}

test("the worker image's code imports none of the packages Dockerfile.worker leaves out", () => {
  const leftOut = uninstalledByDockerfile();
  assert.ok(leftOut.length > 0, "Dockerfile.worker has an `npm uninstall <packages>` step");
  const operatorEntry = join(REPO_ROOT, "operator", "main.ts");
  // `floxide ui --kube` runs from the operator image (the chart's console): its one Kubernetes
  // module loads client-node lazily, and in the worker image --kube fails with a clear error.
  const consoleKube = join(REPO_ROOT, "console", "server", "kube", "workflow-deployments.ts");
  assert.doesNotMatch(
    readFileSync(consoleKube, "utf8"),
    /^import [^;]* from "@kubernetes\/client-node";/m,
    "the console's Kubernetes module imports client-node only when --kube is used",
  );
  const worker = packagesReachable(
    join(REPO_ROOT, "cli", "bin.ts"),
    (file) => file === operatorEntry || file === consoleKube,
  );
  const imported = leftOut.filter((name) => worker.has(name)).map((name) => `${name} (${worker.get(name)})`);
  assert.deepEqual(imported, [], "the worker needs them: keep them in its image");
  // Not a stale list: each is a production dependency (npm uninstall of anything else is a no-op).
  const { dependencies = {} } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  assert.deepEqual(
    leftOut.filter((name) => !(name in dependencies)),
    [],
    "left out of the worker image but not a production dependency: drop them from the list",
  );
});
