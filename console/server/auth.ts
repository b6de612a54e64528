/**
 * Who may call the API. With a token: every /api call carries it, as `Authorization: Bearer`
 * or the HttpOnly, SameSite=Strict cookie the login call sets (EventSource cannot send
 * headers). Without one (loopback only): the Host header must name loopback, so a page of
 * another site cannot reach the console by DNS rebinding. Actions also need the
 * `x-floxide-console` header, which a cross-site form cannot send.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { isLoopback } from "./bind-policy.ts";

export const SESSION_COOKIE = "floxide_console";
export const ACTION_HEADER = "x-floxide-console";

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** Constant-time comparison (of digests, so the lengths match). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  return given !== undefined && timingSafeEqual(digest(expected), digest(given));
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function sessionCookie(token: string): string {
  return `${SESSION_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer (.+)$/.exec(header ?? "");
  return match?.[1];
}

/** The hostname of a Host header (`[::1]:8090` -> `::1`). */
function hostname(host: string | undefined): string {
  const value = host ?? "";
  if (value.startsWith("[")) return value.slice(1, value.indexOf("]"));
  return value.split(":")[0] ?? "";
}

/** An onRequest hook for the API scope. */
export function authHook(token: string | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (token === undefined) {
      if (!isLoopback(hostname(request.headers.host))) {
        await reply
          .code(403)
          .send({ error: "the console answers only to loopback host names", code: "Forbidden" });
      }
    } else {
      const given =
        bearer(request.headers.authorization) ?? readCookie(request.headers.cookie, SESSION_COOKIE);
      if (!tokenMatches(token, given)) {
        await reply.code(401).send({ error: "an auth token is required", code: "Unauthorized" });
        return;
      }
    }
    if (request.method === "POST" && request.headers[ACTION_HEADER] !== "1") {
      await reply.code(403).send({ error: `actions need the ${ACTION_HEADER} header`, code: "Forbidden" });
    }
  };
}
