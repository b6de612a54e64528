/**
 * Safe by default: the console listens on loopback unless it has a token. A pure decision,
 * checked before anything connects.
 */
import { isIP } from "node:net";

/** Whether `host` (an address or `localhost`) is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || /^::ffff:127\./.test(bare);
  return false;
}

/** Why the console must not start with these settings, or null. */
export function bindProblem(host: string, authToken: string | undefined): string | null {
  if (isLoopback(host)) return null;
  if (authToken === undefined || authToken === "") {
    return (
      `refusing to listen on ${host} without an auth token: anyone who reaches it could cancel runs ` +
      `and redrive items. Set --auth-token (FLOXIDE_UI_AUTH_TOKEN), or listen on 127.0.0.1 and tunnel ` +
      `(kubectl port-forward, ssh -L)`
    );
  }
  if (authToken.length < 16) {
    return "--auth-token must be at least 16 characters when listening beyond loopback (e.g. `openssl rand -hex 24`)";
  }
  return null;
}
