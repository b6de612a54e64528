/**
 * The package as users get it: `npm pack` of this checkout (the prepack script compiles dist/),
 * installed with npm into folders outside the repository. Installs prefer npm's cache, so
 * they work offline once `npm ci` has run here.
 */
import { execFile, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/**
 * The environment for npm and for the installed `floxide`: the Node running the tests first on
 * PATH (the bin's `#!/usr/bin/env node` picks it, as a user's current Node), no test-runner state.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
    npm_config_audit: "false",
    npm_config_fund: "false",
  };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  return env;
}

async function npm(args: readonly string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(NPM, [...args], {
      cwd,
      env: cleanEnv(),
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(" ")} in ${cwd} failed: ${failed.message}\n${failed.stderr ?? ""}`, {
      cause: error,
    });
  }
}

export interface PackedPackage {
  /** The tarball `npm pack` wrote. */
  readonly tarball: string;
  /** A scratch folder for this test file, removed by `remove()`. */
  readonly scratch: string;
  remove(): void;
}

/** Packs this checkout into a fresh scratch folder. */
export async function packPackage(): Promise<PackedPackage> {
  const scratch = mkdtempSync(join(tmpdir(), "floxide-package-"));
  await npm(["pack", "--silent", "--pack-destination", scratch], REPO_ROOT);
  const tarball = readdirSync(scratch).find((name) => name.endsWith(".tgz"));
  if (tarball === undefined) throw new Error(`npm pack wrote no tarball into ${scratch}`);
  return {
    tarball: join(scratch, tarball),
    scratch,
    remove: () => rmSync(scratch, { recursive: true, force: true }),
  };
}

/** `npm install <tarball>` into `dir` (a new project): the path a user takes. */
export async function installInto(dir: string, tarball: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  // A project's package.json with no "type" (npm 11's `init -y` writes "type": "commonjs").
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "user-project", private: true }));
  await npm(["install", "--prefer-offline", "--no-package-lock", tarball], dir);
}

/**
 * The worker image's layout, as Dockerfile.worker makes it, in a folder: the package under
 * `<root>/opt/floxide` with its production dependencies (`npm ci --omit=dev` from the repo's
 * lockfile), and `<root>/app/node_modules/floxide-k8s` linking to it. Returns the two paths.
 */
export async function imageLayout(root: string, tarball: string): Promise<{ opt: string; app: string }> {
  const opt = join(root, "opt", "floxide");
  const app = join(root, "app");
  mkdirSync(opt, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", opt, "--strip-components=1"]);
  cpSync(join(REPO_ROOT, "package-lock.json"), join(opt, "package-lock.json"));
  await npm(["ci", "--omit=dev", "--ignore-scripts", "--prefer-offline"], opt);
  mkdirSync(join(app, "node_modules"), { recursive: true });
  symlinkSync(opt, join(app, "node_modules", "floxide-k8s"));
  return { opt, app };
}

export { cleanEnv as packageEnv };

/** package.json's Node floor (`engines.node`, e.g. ">=22.19.0") and its version numbers. */
export function nodeFloor(): { readonly range: string; readonly version: readonly number[] } {
  const { engines } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    engines: { node: string };
  };
  const version = /(\d+)\.(\d+)\.(\d+)/.exec(engines.node)?.slice(1).map(Number);
  if (version === undefined) throw new Error(`package.json engines.node '${engines.node}' names no version`);
  return { range: engines.node, version };
}

/** Where a machine keeps a Node of its own (the distribution's, a manual install), then PATH's. */
export function nodeCandidates(): string[] {
  const onPath = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "node"));
  return [...new Set(["/usr/bin/node", "/usr/local/bin/node", ...onPath])].filter((path) => existsSync(path));
}

/** A Node on this machine older than the floor, or null (then a test of it skips, saying so). */
export function nodeBelowFloor(): { readonly path: string; readonly version: string } | null {
  const floor = nodeFloor().version;
  for (const path of nodeCandidates()) {
    const answer = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
    const version = /^v(\d+)\.(\d+)\.(\d+)/.exec(answer.stdout)?.slice(1).map(Number);
    if (version === undefined) continue;
    const differs = floor.findIndex((part, i) => part !== version[i]);
    if (differs >= 0 && (version[differs] ?? 0) < (floor[differs] ?? 0))
      return { path, version: answer.stdout.trim() };
  }
  return null;
}
