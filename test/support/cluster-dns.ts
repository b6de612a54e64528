// The cluster DNS of the test node: a small UDP responder on the bridge address that answers
// `<service>.<namespace>.svc.cluster.local` with the Service's ClusterIP, read from the API
// server, the part of CoreDNS's kubernetes plugin that pods here use (the README's Redis URL
// `redis://floxide-redis.floxide-system.svc:6379`). Anything else is NXDOMAIN: pods have no
// network beyond the bridge. kind and k3d clusters bring their own CoreDNS.
import { createSocket, type Socket } from "node:dgram";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";

const CLUSTER_DOMAIN = "cluster.local";
const TYPE_A = 1;
const CLASS_IN = 1;
const TTL_SECONDS = 5;

export interface ClusterDns {
  readonly address: string;
  readonly port: number;
  /** How many queries it answered (with records or NXDOMAIN). */
  readonly answered: () => number;
  close(): Promise<void>;
}

interface Question {
  name: string;
  type: number;
  /** Offset just past the question section. */
  end: number;
}

/** Reads the first question of a DNS query (no compression in questions from resolvers). */
function readQuestion(message: Buffer): Question | undefined {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < message.length) {
    const length = message[offset] ?? 0;
    offset += 1;
    if (length === 0) break;
    if (length > 63 || offset + length > message.length) return undefined;
    labels.push(message.subarray(offset, offset + length).toString("ascii"));
    offset += length;
  }
  if (offset + 4 > message.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: message.readUInt16BE(offset), end: offset + 4 };
}

/** The reply: the query's id and question, the given answer address (A only), or NXDOMAIN. */
function reply(query: Buffer, question: Question, found: boolean, ipv4: string | undefined): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const recursionDesired = (query[2] ?? 0) & 0x01;
  // QR=1, opcode 0, AA=1, RD copied; RA=0; RCODE 0 (NOERROR) or 3 (NXDOMAIN).
  header[2] = 0x84 | recursionDesired;
  header[3] = found ? 0 : 3;
  header.writeUInt16BE(1, 4);
  const answers = ipv4 !== undefined ? 1 : 0;
  header.writeUInt16BE(answers, 6);
  const questionBytes = query.subarray(12, question.end);
  if (ipv4 === undefined) return Buffer.concat([header, questionBytes]);
  const answer = Buffer.alloc(16);
  answer.writeUInt16BE(0xc00c, 0); // a pointer to the name in the question
  answer.writeUInt16BE(TYPE_A, 2);
  answer.writeUInt16BE(CLASS_IN, 4);
  answer.writeUInt32BE(TTL_SECONDS, 6);
  answer.writeUInt16BE(4, 10);
  ipv4.split(".").forEach((octet, index) => answer.writeUInt8(Number(octet), 12 + index));
  return Buffer.concat([header, questionBytes, answer]);
}

/** `svc.ns.svc.cluster.local` -> {svc, ns}; undefined for names outside the cluster domain. */
export function serviceOf(name: string): { service: string; namespace: string } | undefined {
  const suffix = `.svc.${CLUSTER_DOMAIN}`;
  if (!name.endsWith(suffix)) return undefined;
  const parts = name.slice(0, -suffix.length).split(".");
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { service: parts[0], namespace: parts[1] };
}

export async function startClusterDns(
  kubeConfig: KubeConfig,
  address: string,
  port = 53,
): Promise<ClusterDns> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const socket: Socket = createSocket("udp4");
  let answered = 0;
  const clusterIp = async (name: string): Promise<string | undefined> => {
    const target = serviceOf(name);
    if (!target) return undefined;
    try {
      const service = await core.readNamespacedService({ name: target.service, namespace: target.namespace });
      const ip = service.spec?.clusterIP;
      return ip && ip !== "None" ? ip : undefined;
    } catch {
      return undefined;
    }
  };
  socket.on("message", (message, remote) => {
    const question = readQuestion(message);
    if (!question) return;
    void clusterIp(question.name).then((ip) => {
      const found = ip !== undefined;
      const answer = found && question.type === TYPE_A ? ip : undefined;
      answered += 1;
      socket.send(reply(message, question, found, answer), remote.port, remote.address);
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, address, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  socket.on("error", () => undefined);
  return {
    address,
    port,
    answered: () => answered,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
