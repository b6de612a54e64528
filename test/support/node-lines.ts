/**
 * npm test runs every test file on the reference Node line and again on the floor line
 * (scripts/test.mjs). A suite whose outcome does not depend on the Node line running it (the
 * e2e cluster runs the images' Node; a Redis failover tests Redis and the worker processes, which
 * the floor pass already starts elsewhere) runs once, on the reference pass, to keep `.ci/run`
 * within its time bound.
 */
import { readFileSync } from "node:fs";

/** Why this is not the reference pass (the skip reason), or undefined on it. */
export function notReferencePass(suite: string): string | undefined {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    devEngines?: { runtime?: { version?: string } };
  };
  const reference = pkg.devEngines?.runtime?.version;
  return reference && process.versions.node !== reference
    ? `${suite} runs on the reference Node pass (${reference}), this is ${process.versions.node}`
    : undefined;
}
