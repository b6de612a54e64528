/**
 * The page and its assets, from the package itself: no CDN, works offline. The web folder
 * (console/web, copied to dist by scripts/build.mjs with the vendored modules of vendor.json)
 * is read once at start. The page's import map is its one inline script, allowed by hash in a
 * strict Content-Security-Policy: no other inline script, no eval, nothing from another origin.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const WEB = fileURLToPath(new URL("../web/", import.meta.url));

interface VendorEntry {
  readonly file: string;
  readonly from: string;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
};

/** A vendored module: copied next to the web folder in dist/, else found in node_modules. */
function vendorFile(entry: VendorEntry): string {
  const copied = join(WEB, "vendor", entry.file);
  if (existsSync(copied)) return copied;
  for (let dir = WEB; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", entry.from);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`the console's ${entry.from} is missing: run 'npm ci' (or 'npm run build' for dist/)`);
}

export interface ConsoleAssets {
  readonly html: string;
  readonly csp: string;
  readonly files: ReadonlyMap<string, { readonly type: string; readonly body: Buffer }>;
}

export function loadAssets(): ConsoleAssets {
  const vendor = JSON.parse(readFileSync(join(WEB, "vendor.json"), "utf8")) as Record<string, VendorEntry>;
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of ["app.js", "api.js", "html.js", "pages.js", "graph.js", "format.js", "style.css"]) {
    files.set(name, {
      type: TYPES[name.slice(name.lastIndexOf("."))] as string,
      body: readFileSync(join(WEB, name)),
    });
  }
  const imports: Record<string, string> = {};
  for (const [specifier, entry] of Object.entries(vendor)) {
    files.set(`vendor/${entry.file}`, {
      type: TYPES[".js"] as string,
      body: readFileSync(vendorFile(entry)),
    });
    imports[specifier] = `/assets/vendor/${entry.file}`;
  }
  const html = readFileSync(join(WEB, "index.html"), "utf8").replace(
    "__IMPORT_MAP__",
    JSON.stringify({ imports }),
  );
  // The hash covers the script's text exactly as served, whitespace included.
  const inline = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (inline === undefined) throw new Error("console/web/index.html has no import map");
  const hash = createHash("sha256").update(inline).digest("base64");
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp, files };
}

export async function assetsPlugin(app: FastifyInstance, assets: ConsoleAssets): Promise<void> {
  const page = async (_request: unknown, reply: import("fastify").FastifyReply) =>
    reply
      .header("content-type", "text/html; charset=utf-8")
      .header("content-security-policy", assets.csp)
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .header("cache-control", "no-store")
      .send(assets.html);
  app.get("/", page);
  app.get("/favicon.ico", async (_request, reply) => reply.code(204).send());
  app.get("/assets/*", async (request, reply) => {
    const file = assets.files.get((request.params as { "*": string })["*"]);
    if (file === undefined) return reply.code(404).send({ error: "no such asset", code: "NotFound" });
    return reply
      .header("content-type", file.type)
      .header("x-content-type-options", "nosniff")
      .header("cache-control", "no-cache")
      .send(file.body);
  });
}
