/**
 * The package as users get it: `npm pack` of this checkout (the prepack script compiles dist/),
 * installed with npm into folders outside the repository. Installs prefer npm's cache, so
 * they work offline once `npm ci` has run here.
 */
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
