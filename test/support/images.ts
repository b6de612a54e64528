// The worker and operator images, built from Dockerfile.worker and Dockerfile.operator
// themselves by BuildKit (buildkitd with its OCI worker: runc, overlayfs), without a registry:
// - the Dockerfiles' bases (FROM node:..., and the worker's final FROM gcr.io/distroless/...) are
//   named contexts from local OCI layouts (base-images.ts), so BuildKit resolves nothing remotely;
// - `# syntax=docker/dockerfile:1` would make BuildKit fetch that frontend image; the option
//   `cmdline` tells the built-in Dockerfile frontend that it is the one to run;
// - RUN steps use the host network (npm ci reaches the npm registry as on a laptop).
// Results are OCI layouts cached under ~/.cache/floxide-k8s/images/built, keyed by the
// Dockerfile, the build context (after .dockerignore) and the base image's digest.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { assetDirectories } from "./control-plane.ts";
import {
  baseImage,
  IMAGE_CACHE,
  layoutSize,
  megabytes,
  normalizedName,
  sh,
  type ImageSize,
  type OciLayout,
} from "./base-images.ts";
import { BUILDKIT_ROOT, CGROUP_ROOT, NODE_ROOT } from "./node-host.ts";
import { spawnLogged, terminate, type ManagedProcess } from "./processes.ts";
import { waitFor } from "./wait.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUILDKIT_STATE = join(NODE_ROOT, "buildkit");
const BUILDKIT_SOCKET = join(BUILDKIT_STATE, "buildkitd.sock");

export interface BuiltImage {
  layout: OciLayout;
  /** The whole image: compressed (what a pull transfers) and unpacked (what `docker images` shows). */
  size: ImageSize;
  /** The base image the final stage starts FROM, and the size of its layers within `size`. */
  base: { name: string; size: ImageSize } | undefined;
  /** True when the layout came from the cache (nothing was built). */
  cached: boolean;
}

/** The image names the README uses: floxide-worker:<package version>, floxide-operator:<...>. */
export function projectImageNames(): { worker: string; operator: string } {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    version: string;
  };
  return { worker: `floxide-worker:${version}`, operator: `floxide-operator:${version}` };
}

/** The images a Dockerfile starts FROM that are not its own stages, ARG defaults expanded. */
export function baseImagesOf(dockerfile: string, buildArgs: Record<string, string> = {}): string[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const bases: string[] = [];
  for (const line of dockerfile.split("\n").map((text) => text.trim())) {
    const arg = /^ARG\s+(\w+)=(\S+)/i.exec(line);
    if (arg?.[1] && arg[2] && bases.length === 0) args.set(arg[1], buildArgs[arg[1]] ?? arg[2]);
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!from?.[1]) continue;
    const image = from[1].replace(/\$\{?(\w+)\}?/g, (_, name: string) => args.get(name) ?? "");
    if (!stages.has(image) && !bases.includes(image)) bases.push(image);
    if (from[2]) stages.add(from[2]);
  }
  return bases.filter((image) => image !== "scratch");
}

/** .dockerignore rules in order: a glob (with `**`) and whether it ignores or (`!`) keeps. */
function ignoreRules(context: string): { pattern: RegExp; keep: boolean }[] {
  const path = join(context, ".dockerignore");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      const keep = line.startsWith("!");
      const body = line
        .slice(keep ? 1 : 0)
        .replace(/^\/+/, "")
        .replace(/[.+^$()|[\]{}]/g, "\\$&")
        .replace(/\*\*\//g, "\u0000")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]")
        .replaceAll("\u0000", "(?:.*/)?");
      return { pattern: new RegExp(`^${body}(?:/.*)?$`), keep };
    });
}

/** Docker's rule: the last matching line decides. */
function ignored(rules: { pattern: RegExp; keep: boolean }[], path: string): boolean {
  let result = false;
  for (const rule of rules) if (rule.pattern.test(path)) result = !rule.keep;
  return result;
}

/** A digest of every file BuildKit sends as the context (what COPY can see). */
function contextDigest(context: string): string {
  const rules = ignoreRules(context);
  const hash = createHash("sha256");
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = relative(context, path);
      if (name === "node_modules" || name === ".git") continue;
      const stat = statSync(path);
      // A folder is walked even when ignored: a `!` line may keep a file inside it.
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile() && !ignored(rules, rel))
        hash.update(`${rel}\0${stat.mode & 0o111 ? "x" : "-"}\0`).update(readFileSync(path));
    }
  };
  walk(context);
  return hash.digest("hex");
}

function buildkitBinaries(): { buildkitd: string; buildctl: string } {
  const find = (name: string): string => {
    const path = assetDirectories()
      .map((dir) => join(dir, name))
      .find((candidate) => existsSync(candidate));
    if (!path) throw new Error(`${name} not found: run \`bash test/k8s/assets.sh\` (it builds BuildKit)`);
    return path;
  };
  return { buildkitd: find("buildkitd"), buildctl: find("buildctl") };
}

interface Buildkit {
  buildctl: string;
  stop(): Promise<void>;
  daemon: ManagedProcess;
}

async function startBuildkit(): Promise<Buildkit> {
  const { buildkitd, buildctl } = buildkitBinaries();
  await mkdir(BUILDKIT_STATE, { recursive: true });
  await mkdir(BUILDKIT_ROOT, { recursive: true });
  const config = join(BUILDKIT_STATE, "buildkitd.toml");
  await writeFile(
    config,
    [
      `root = "${BUILDKIT_ROOT}"`,
      "[grpc]",
      `  address = ["unix://${BUILDKIT_SOCKET}"]`,
      "[worker.oci]",
      "  enabled = true",
      '  snapshotter = "overlayfs"',
      '  networkMode = "host"',
      `  defaultCgroupParent = "${CGROUP_ROOT}/buildkit"`,
      "  gc = true",
      "[worker.containerd]",
      "  enabled = false",
      "",
    ].join("\n"),
  );
  const daemon = spawnLogged("buildkitd", buildkitd, ["--config", config], BUILDKIT_STATE);
  const crashed = new AbortController();
  void daemon.exited.then(() => crashed.abort(new Error(`buildkitd exited; log: ${daemon.logPath}`)));
  await waitFor(
    async () => (await sh(buildctl, ["--addr", `unix://${BUILDKIT_SOCKET}`, "debug", "workers"]), true),
    {
      timeoutMs: 30_000,
      signal: crashed.signal,
      message: `buildkitd to answer on ${BUILDKIT_SOCKET} (log: ${daemon.logPath})`,
    },
  );
  return { buildctl, daemon, stop: () => terminate(daemon) };
}

/** Runs a command with its output in `logPath`; rejects on a non-zero exit. */
function runToLog(command: string, args: readonly string[], logPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logPath, "w");
    const child = spawn(command, args, { stdio: ["ignore", fd, fd] });
    closeSync(fd);
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited (${code ?? signal}); log: ${logPath}`)),
    );
  });
}

function manifestDigest(dir: string): string {
  const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
    manifests?: { digest: string }[];
  };
  const digest = index.manifests?.[0]?.digest;
  if (!digest) throw new Error(`${dir}/index.json lists no manifest`);
  return digest;
}

/** What to build: a Dockerfile in a context, the image's name, build args, local FROM images. */
export interface BuildSpec {
  context: string;
  /** Relative to the context. */
  dockerfile: string;
  image: string;
  buildArgs?: Record<string, string>;
  /** Images built earlier that FROM may name (the rest are bases made locally: base-images.ts). */
  localImages?: readonly OciLayout[];
}

async function buildOne(
  buildkit: () => Promise<Buildkit>,
  spec: BuildSpec,
  log: (line: string) => void,
): Promise<BuiltImage> {
  const { context, image: imageName, buildArgs = {} } = spec;
  const dockerfileName = spec.dockerfile;
  const dockerfile = readFileSync(join(context, dockerfileName), "utf8");
  const references = baseImagesOf(dockerfile, buildArgs);
  const bases = await Promise.all(
    references.map(
      (reference) =>
        spec.localImages?.find((local) => local.name === normalizedName(reference)) ?? baseImage(reference),
    ),
  );
  const key = createHash("sha256")
    .update(dockerfile)
    .update(JSON.stringify(buildArgs))
    .update(bases.map((base) => `${base.name}@${base.digest}`).join(","))
    .update(contextDigest(context))
    .digest("hex")
    .slice(0, 16);
  const name = normalizedName(imageName);
  const tag = name.slice(name.lastIndexOf(":") + 1);
  const dir = join(IMAGE_CACHE, "built", `${imageName.replace(/[/:]/g, "_")}-${key}`);
  const cached = existsSync(join(dir, "index.json"));
  if (!cached) {
    const started = Date.now();
    const { buildctl } = await buildkit();
    const tarball = join(BUILDKIT_STATE, `${tag}-${process.pid}.tar`);
    const progress = join(BUILDKIT_STATE, `build-${tag}-${basename(dockerfileName)}.log`);
    const named = bases.flatMap((base, index) => [
      "--oci-layout",
      `base${index}=${base.dir}`,
      "--opt",
      `context:${references[index]}=oci-layout://base${index}@${base.digest}`,
    ]);
    const args = Object.entries(buildArgs).flatMap(([arg, value]) => ["--opt", `build-arg:${arg}=${value}`]);
    try {
      await runToLog(
        buildctl,
        [
          "--addr",
          `unix://${BUILDKIT_SOCKET}`,
          "build",
          "--progress=plain",
          "--frontend=dockerfile.v0",
          `--local=context=${context}`,
          `--local=dockerfile=${context}`,
          "--opt",
          `filename=${dockerfileName}`,
          "--opt",
          "cmdline=docker/dockerfile:1",
          ...named,
          ...args,
          "--output",
          `type=oci,name=${name},dest=${tarball}`,
        ],
        progress,
      );
    } catch (error) {
      const tail = existsSync(progress)
        ? (await readFile(progress, "utf8")).split("\n").slice(-40).join("\n")
        : "";
      throw new Error(`BuildKit could not build ${dockerfileName}:\n${tail}`, { cause: error });
    }
    const work = `${dir}.tmp`;
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    await sh("tar", ["-xf", tarball, "-C", work]);
    await rm(tarball, { force: true });
    await rename(work, dir);
    log(
      `built ${name} from ${dockerfileName} with BuildKit in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const layout: OciLayout = { name, dir, tag, digest: manifestDigest(dir) };
  const size = await layoutSize(dir, layout.digest);
  const base = await finalBase(layout, bases);
  const own = base && {
    compressed: size.compressed - base.size.compressed,
    uncompressed: size.uncompressed - base.size.uncompressed,
  };
  log(
    `${name}: ${megabytes(size.uncompressed)} unpacked (as \`docker images\` shows), ` +
      `${megabytes(size.compressed)} compressed (what a pull transfers)` +
      (base && own
        ? `; the base ${base.name} is ${megabytes(base.size.uncompressed)} / ${megabytes(base.size.compressed)} of it, ` +
          `this image's own layers ${megabytes(own.uncompressed)} / ${megabytes(own.compressed)}`
        : ""),
  );
  return { layout, size, base, cached };
}

function layerDigests(layout: Pick<OciLayout, "dir" | "digest">): string[] {
  const manifest = JSON.parse(
    readFileSync(join(layout.dir, "blobs", ...layout.digest.split(":")), "utf8"),
  ) as { layers: { digest: string }[] };
  return manifest.layers.map((layer) => layer.digest);
}

/** The base whose layers the image starts with (its final stage's FROM), with its size. */
async function finalBase(
  image: OciLayout,
  bases: readonly OciLayout[],
): Promise<{ name: string; size: ImageSize } | undefined> {
  const layers = layerDigests(image);
  const base = bases.find((candidate) => {
    const prefix = layerDigests(candidate);
    return prefix.length > 0 && prefix.every((digest, index) => layers[index] === digest);
  });
  return base && { name: base.name, size: await layoutSize(base.dir, base.digest) };
}

/**
 * Builds (or takes from the cache) the worker and operator images from the Dockerfiles.
 * buildkitd runs only while something must be built.
 */
export async function buildProjectImages(
  log: (line: string) => void = () => undefined,
): Promise<{ worker: BuiltImage; operator: BuiltImage }> {
  const names = projectImageNames();
  return withBuildkit(async (build) => ({
    worker: await build({ context: REPO_ROOT, dockerfile: "Dockerfile.worker", image: names.worker }, log),
    operator: await build(
      { context: REPO_ROOT, dockerfile: "Dockerfile.operator", image: names.operator },
      log,
    ),
  }));
}

/** Builds images with one buildkitd, started on the first build that is not cached, stopped after. */
export async function withBuildkit<T>(
  use: (build: (spec: BuildSpec, log: (line: string) => void) => Promise<BuiltImage>) => Promise<T>,
): Promise<T> {
  let running: Promise<Buildkit> | undefined;
  const buildkit = (): Promise<Buildkit> => (running ??= startBuildkit());
  try {
    return await use((spec, log) => buildOne(buildkit, spec, log));
  } finally {
    if (running) await (await running).stop();
  }
}
