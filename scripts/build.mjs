// `npm run build`: compiles the sources to dist/ (JS, .d.ts, source maps) with tsc, then copies
// the files the compiled code reads next to itself (the Redis store's .lua scripts, the console's
// page and the browser modules it vendors, so the package serves them offline).
// Plain JavaScript, so it runs on whatever Node started it.
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";

const ROOTS = ["common", "contract", "worker", "cli", "console", "operator", "examples"];
const ASSET = /\.lua$/;

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log("usage: node scripts/build.mjs   (npm run build: compiles to dist/, copies the .lua files)");
  process.exit(0);
}
rmSync("dist", { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

let copied = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (ASSET.test(name)) {
      cpSync(path, join("dist", path));
      copied += 1;
    }
  }
};
for (const root of ROOTS) walk(root);
// The console's page: its files as they are, and the modules of vendor.json from node_modules.
cpSync(join("console", "web"), join("dist", "console", "web"), { recursive: true });
mkdirSync(join("dist", "console", "web", "vendor"), { recursive: true });
const vendor = JSON.parse(readFileSync(join("console", "web", "vendor.json"), "utf8"));
for (const { file, from } of Object.values(vendor)) {
  cpSync(join("node_modules", from), join("dist", "console", "web", "vendor", file));
  copied += 1;
}
// tsc writes 0644; the images link /usr/local/bin/floxide to this file and run it by name.
chmodSync(join("dist", "cli", "bin.js"), 0o755);
console.log(`build: dist/ compiled, ${copied} asset files copied`);
