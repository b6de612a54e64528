/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl for TLS tests. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A second CA that signed nothing: a client trusting only it must refuse the server. */
  readonly otherCaFile: string;
  remove(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (result.error !== undefined)
    throw new Error("openssl not found on PATH (Debian/Ubuntu: apt-get install -y openssl)");
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")} failed:\n${result.stderr}`);
}

export function makeTlsFiles(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), "floxide-tls-"));
  const ca = (name: string) =>
    openssl(dir, [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"],
      ...["-keyout", `${name}.key`, "-out", `${name}.crt`, "-subj", `/CN=floxide test ${name}`],
    ]);
  ca("ca");
  ca("other-ca");
  openssl(dir, [
    ...["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr"],
    ...["-subj", "/CN=localhost"],
  ]);
  writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(dir, [
    ...["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"],
    ...["-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
  ]);
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    certFile: join(dir, "server.crt"),
    keyFile: join(dir, "server.key"),
    otherCaFile: join(dir, "other-ca.crt"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
