import { test } from "node:test";
import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import { ResilientInformer, type InformerLike } from "../../../operator/runtime/resilient-informer.ts";
import { waitFor } from "../../support/wait.ts";

type Callback = (arg?: unknown) => void;

/** An informer whose list result and failures the test controls. */
class FakeInformer {
  readonly callbacks = new Map<string, Callback[]>();
  objects: KubernetesObject[] = [];
  stopped = false;
  private readonly listResult: () => KubernetesObject[] | Error;

  constructor(listResult: () => KubernetesObject[] | Error) {
    this.listResult = listResult;
  }
  on(verb: string, cb: Callback): void {
    this.callbacks.set(verb, [...(this.callbacks.get(verb) ?? []), cb]);
  }
  emit(verb: string, arg?: unknown): void {
    for (const cb of this.callbacks.get(verb) ?? []) cb(arg);
  }
  async start(): Promise<void> {
    const result = this.listResult();
    // Like client-node: a failed list is reported through "error", start() still resolves.
    if (result instanceof Error) return this.emit("error", result);
    this.emit("connect");
    this.objects = result;
    for (const object of result) this.emit("add", object);
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  list(): KubernetesObject[] {
    return this.objects;
  }
  get(name: string): KubernetesObject | undefined {
    return this.objects.find((object) => object.metadata?.name === name);
  }
}

const object = (name: string): KubernetesObject => ({ metadata: { name, namespace: "ns" } });

function harness(
  listResult: () => KubernetesObject[] | Error,
  options: { silenceLimitMs?: number; relistIntervalMs?: number } = {},
) {
  const created: FakeInformer[] = [];
  const events: string[] = [];
  const restarts: string[] = [];
  const informer = new ResilientInformer<KubernetesObject>({
    name: "test",
    create: () => {
      const fake = new FakeInformer(listResult);
      created.push(fake);
      return fake as unknown as InformerLike<KubernetesObject>;
    },
    onEvent: (event, obj) => events.push(`${event}:${obj.metadata?.name}`),
    onRestart: (reason) => restarts.push(reason),
    initialBackoffMs: 20,
    maxBackoffMs: 200,
    silenceLimitMs: options.silenceLimitMs ?? 60_000,
    relistIntervalMs: options.relistIntervalMs ?? 60_000,
  });
  return { informer, created, events, restarts };
}

test("a watch error restarts the informer with a fresh list; the cache stays readable meanwhile", async () => {
  const h = harness(() => [object("a")]);
  await h.informer.start();
  assert.equal(h.informer.get("a")?.metadata?.name, "a");
  h.created[0]!.emit("error", new Error("connection reset"));
  await waitFor(() => h.created.length === 2 && h.informer.synced && h.created[0]!.stopped, {
    timeoutMs: 2000,
  });
  assert.deepEqual(h.restarts, ["error"]);
  assert.equal(h.informer.get("a")?.metadata?.name, "a");
  await h.informer.stop();
});

test("list failures are retried with growing backoff until one succeeds", async () => {
  let calls = 0;
  const times: number[] = [];
  const h = harness(() => {
    times.push(Date.now());
    return ++calls <= 3 ? new Error("503") : [object("b")];
  });
  await h.informer.start();
  assert.equal(calls, 4);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.ok(gaps[2]! > gaps[0]!, `backoff grows: ${gaps.join(", ")} ms`);
  assert.deepEqual(h.events, ["add:b"]);
  await h.informer.stop();
});

test("the watchdog re-lists an informer that has been silent too long", async () => {
  const h = harness(() => [object("c")], { silenceLimitMs: 80 });
  await h.informer.start();
  await waitFor(() => h.restarts.includes("silent") && h.created.length >= 2, { timeoutMs: 2000 });
  await h.informer.stop();
});

test("the informer re-lists periodically even when events keep coming", async () => {
  const h = harness(() => [object("d")], { relistIntervalMs: 100, silenceLimitMs: 60_000 });
  await h.informer.start();
  await waitFor(() => h.restarts.includes("relist"), { timeoutMs: 2000 });
  await h.informer.stop();
  const count = h.created.length;
  h.created.at(-1)!.emit("add", object("late"));
  assert.ok(!h.events.includes("add:late"), "no event after stop");
  assert.equal(h.created.length, count);
});
