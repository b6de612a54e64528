// The Dockerfiles without a container engine: what each image's build stage copies holds every
// source file its entry point imports, .dockerignore keeps none of them out, the final stage
// takes the compiled dist/ and production dependencies only, and the images follow the
// conventions the chart and the operator rely on (non-root, exec-form entrypoint, the worker command).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { WORKER_COMMAND, WORKER_CONTAINER } from "../../../operator/build/deployment.ts";
import { REPO_ROOT } from "./helm-cli.ts";

interface Image {
  dockerfile: string;
  /** Entry points: static imports are followed from here. */
  entries: string[];
}

const IMAGES: Image[] = [
  { dockerfile: "Dockerfile.operator", entries: ["cli/bin.ts", "cli/main.ts", "operator/main.ts"] },
  {
    dockerfile: "Dockerfile.worker",
    entries: ["cli/bin.ts", "cli/main.ts", "worker/main.ts", "examples/video.ts"],
  },
];

const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

/** Repository files reachable by static relative imports (dynamic import() is lazy: not followed). */
function importClosure(entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = read(file).replace(/import\([^)]*\)/g, "");
    for (const match of source.matchAll(
      /(?:import|export)[^'"]*?from\s*["'](\.[^"']+)["']|import\s*["'](\.[^"']+)["']/g,
    )) {
      const target = relative(REPO_ROOT, resolve(join(REPO_ROOT, dirname(file)), (match[1] ?? match[2])!));
      assert.ok(existsSync(join(REPO_ROOT, target)), `${file} imports a missing ${target}`);
      queue.push(target);
    }
  }
  return seen;
}

/** A stage's text: `build` is the stage named so, `final` the one after the last FROM. */
function stage(dockerfile: string, name: "build" | "final"): string {
  const stages = dockerfile.split(/^FROM /m);
  return (name === "final" ? stages.at(-1) : stages.find((text) => /^\S+ AS build$/m.test(text))) ?? "";
}

/** COPY sources of the build stage, other than --from=... */
function copiedPaths(dockerfile: string): string[] {
  return [...stage(dockerfile, "build").matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((match) =>
    match[1]!.split(/\s+/),
  );
}

/** Docker's rule: patterns in order, the last one that matches decides; `!` re-includes. */
function dockerignored(path: string): boolean {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
  let ignored = false;
  for (const line of patterns) {
    const pattern = line.replace(/^!/, "");
    const regex = new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*\*\//g, "(.*/)?")
        .replace(/\*/g, "[^/]*")}(/.*)?$`,
    );
    if (regex.test(path)) ignored = !line.startsWith("!");
  }
  return ignored;
}

for (const image of IMAGES) {
  test(`${image.dockerfile} copies every file its entry points import, none of them dockerignored`, () => {
    const copied = copiedPaths(read(image.dockerfile)).map((path) => path.replace(/\/$/, ""));
    const missing = [...importClosure(image.entries)].filter(
      (file) => !copied.some((path) => file === path || file.startsWith(`${path}/`)),
    );
    assert.deepEqual(missing, [], `not copied into ${image.dockerfile}`);
    const buildInputs = [
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
      "scripts/build.mjs",
    ];
    for (const input of buildInputs.slice(2)) {
      assert.ok(copied.includes(input) || copied.includes(dirname(input) + "/"), `${input} not copied`);
    }
    const ignored = [...importClosure(image.entries), ...buildInputs].filter(dockerignored);
    assert.deepEqual(ignored, [], "excluded by .dockerignore");
  });

  test(`${image.dockerfile}: multi-stage, compiled dist/ and production dependencies only, non-root, exec-form entrypoint`, () => {
    const dockerfile = read(image.dockerfile);
    assert.match(dockerfile, /^FROM \S+ AS deps$/m);
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.match(stage(dockerfile, "build"), /^RUN npm run build$/m);
    const final = stage(dockerfile, "final");
    assert.match(final, /^COPY --from=deps /m);
    assert.match(final, /^COPY --from=build \/src\/dist \.\/dist$/m);
    assert.doesNotMatch(
      final,
      /^COPY (?!--from)(?:--\S+ )*(cli|worker|operator|examples)\//m,
      "sources stay out",
    );
    assert.match(dockerfile, /^USER 1000:1000$/m);
    assert.match(dockerfile, /^ENTRYPOINT \[".*"\]$/m, "exec form: node receives SIGTERM itself");
  });
}

test("every package the images' code imports is a production dependency (npm ci --omit=dev)", () => {
  const manifest = JSON.parse(read("package.json")) as { dependencies: Record<string, string> };
  const files = new Set(IMAGES.flatMap((image) => [...importClosure(image.entries)]));
  assert.ok(files.size > 20, `only ${files.size} files reached: is the import scan broken?`);
  const packages = new Set<string>();
  for (const file of files) {
    for (const match of read(file).matchAll(
      /^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([a-z@][\w@./-]*)["']/gm,
    )) {
      const specifier = match[1]!;
      if (specifier.startsWith("node:")) continue;
      packages.add(
        specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!,
      );
    }
  }
  const missing = [...packages].filter((name) => !manifest.dependencies[name]);
  assert.deepEqual(missing, [], "imported at run time but not in dependencies");
});

test("the worker base image runs the command the operator gives worker containers, without a shell", () => {
  const dockerfile = read("Dockerfile.worker");
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  assert.ok(entrypoint, "Dockerfile.worker has an exec-form ENTRYPOINT");
  assert.deepEqual(JSON.parse(entrypoint) as unknown, WORKER_COMMAND);
  assert.equal(WORKER_COMMAND[0], "/usr/local/bin/node", "node by absolute path: no shell, no /usr/bin/env");
  assert.equal(WORKER_CONTAINER, "worker");
  // The runtime base has no shell: the final stage only copies; `floxide` on PATH is a launcher
  // whose shebang names node by absolute path.
  const final = stage(dockerfile, "final");
  assert.match(dockerfile, /^FROM \$\{RUNTIME_IMAGE\}$/m);
  assert.doesNotMatch(final, /^RUN /m, "no RUN in the final stage: its base has no /bin/sh");
  assert.match(
    dockerfile,
    /printf '#!\/usr\/local\/bin\/node\\nimport\("\/opt\/floxide\/dist\/cli\/bin\.js"\);/,
  );
});
