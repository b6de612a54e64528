// Which Node runs the project's TypeScript: the floor (package.json engines.node) and the
// reference line (devEngines.runtime.version), provisioned by scripts/provision.sh when this
// machine's Node is older. Plain JavaScript: it runs on any Node that can start npm.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PROVISION = fileURLToPath(new URL("./provision.sh", import.meta.url));

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
export const FLOOR = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1];
export const REFERENCE = pkg.devEngines.runtime.version;

const parts = (version) => version.replace(/^v/, "").split(".").map(Number);
/** a >= b for x.y.z versions. */
export function atLeast(a, b) {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] > y[i];
  return true;
}

/**
 * Runs scripts/provision.sh for `tools` (progress on stderr) and returns the environment it
 * prints (PATH with the tool cache, FLOXIDE_NODE_REFERENCE, FLOXIDE_NODE_FLOOR). Exits with its
 * status when it fails: its last line says what to install.
 */
export function provision(tools) {
  const result = spawnSync("bash", [PROVISION, ...tools, "--print-env"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
  });
  if (result.error) {
    console.error(`cannot run bash ${PROVISION}: ${result.error.message} (install bash)`);
    process.exit(1);
  }
  if (result.status !== 0) process.exit(result.status ?? 1);
  const env = {};
  for (const line of result.stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}
