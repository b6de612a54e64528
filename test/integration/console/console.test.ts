/**
 * The console in a real headless browser, against real `floxide worker` processes on a real
 * redis-server: runs that succeed, fail, retry, hold, run long and dead-letter, and what the
 * pages show of them checked against the store; cancel and redrive from the page, seen in Redis;
 * markup in inputs, outputs, errors and events rendered as text; the token and read-only rules.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { startConsole, type RunningConsole } from "../../../console/server/main.ts";
import type { Orchestrator } from "../../../worker/engine/index.ts";
import type { WorkflowStore } from "../../../worker/store/index.ts";
import { launchBrowser, withPage } from "../../support/browser.ts";
import { startRedis, type RedisServer } from "../../support/redis.ts";
import { waitFor } from "../../support/wait.ts";
import { WorkerBed } from "../../support/worker-bed.ts";
import type { ConsoleInput } from "./console.workflow.ts";

const MODULE = new URL("./console.workflow.ts", import.meta.url).pathname;
const XSS = `<script>window.__xss = 1</script>"><img src=x onerror="window.__xss = 2">`;

let redis: RedisServer;
let bed: WorkerBed;
let browser: Browser | { skip: string };
let store: WorkflowStore;
let orchestrator: Orchestrator;
let keyPrefix: string;
let ui: RunningConsole;
let scratch: string;

const launched = (): Browser => browser as Browser;
const skip = (): string | false => ("skip" in browser ? browser.skip : false);

async function start(input: ConsoleInput, idempotencyKey?: string): Promise<string> {
  return (await orchestrator.start(input, idempotencyKey === undefined ? {} : { idempotencyKey })).runId;
}

async function settled(runId: string, status: string): Promise<void> {
  await waitFor(async () => (await store.getRun(runId))?.status === status, {
    timeoutMs: 30_000,
    message: `run ${runId} ${status}`,
  });
}

/** A long (`slow`) run whose `work` step a worker holds now. */
async function workRunning(runId: string): Promise<void> {
  await waitFor(
    async () => (await store.listItems(runId)).some((i) => i.node === "work" && i.status === "running"),
    { timeoutMs: 20_000, message: `work of ${runId} running` },
  );
}

async function openRun(page: Page, runId: string): Promise<void> {
  await page.goto(`${ui.url}#/w/console-e2e/run/${encodeURIComponent(runId)}`);
  await page.locator("[data-run-status]").waitFor({ timeout: 15_000 });
}

/** The graph's node states as the page draws them. */
async function drawnStates(page: Page): Promise<Record<string, string>> {
  return page.$$eval("svg.graph g[data-node]", (nodes) =>
    Object.fromEntries(nodes.map((n) => [n.getAttribute("data-node"), n.getAttribute("data-state")])),
  );
}

before(async () => {
  browser = await launchBrowser();
  if ("skip" in browser) return;
  scratch = mkdtempSync(join(tmpdir(), "floxide-console-"));
  redis = await startRedis();
  bed = new WorkerBed(() => redis.url, "ui");
  const setup = await bed.setup(MODULE);
  store = setup.store;
  orchestrator = setup.orchestrator as Orchestrator;
  keyPrefix = setup.keyPrefix;
  await setup.worker(["--concurrency", "4"], "console-worker-1");
  ui = await startConsole({
    host: "127.0.0.1",
    port: 0,
    readOnly: false,
    workflows: [MODULE],
    redis: { redisUrl: redis.url, keyPrefix },
    env: {},
  });
});

after(async () => {
  if ("skip" in browser) return;
  await launched().close();
  await ui?.close();
  await bed?.close();
  await redis?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe("console in a real browser", () => {
  test("the Workflows page shows the workflow with its backlog and its live worker", async (t) => {
    if (skip()) return t.skip(skip() as string);
    await withPage(launched(), t.name, async (page) => {
      await page.goto(ui.url);
      const row = page.locator('tr[data-workflow="console-e2e"]');
      await row.waitFor({ timeout: 15_000 });
      await waitFor(async () => (await row.locator('[data-field="workers"]').textContent()) === "1", {
        message: "one live worker shown",
      });
      const depth = await store.depth();
      assert.equal(await row.locator('[data-field="dead"]').textContent(), String(depth.dead));
    });
  });

  test("a run that succeeds: every node done, the timeline is the store's event log, the output shown", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "ok", text: "plain" });
    await settled(runId, "completed");
    await withPage(launched(), t.name, async (page) => {
      await openRun(page, runId);
      assert.deepEqual(await drawnStates(page), { intake: "done", work: "done", finish: "done" });
      const events = await store.readEvents(runId, 0);
      assert.deepEqual(
        await page.$$eval("ol.timeline li", (items) =>
          items.map((li) => Number(li.getAttribute("data-seq"))),
        ),
        events.map((e) => e.seq),
      );
      assert.match((await page.getByTestId("run-outputs").textContent()) ?? "", /"done": "plain"/);
      assert.equal(await page.locator("svg.graph line.edge").count(), 2, "the module's two edges are drawn");
      // The context at event 1: folded by the module's reducer (the default one keeps the events).
      await page.locator('ol.timeline li[data-seq="1"] button').click();
      await page.getByText("State folded from events 1 to 1").waitFor();
      assert.deepEqual(JSON.parse((await page.getByTestId("context").textContent()) ?? ""), [
        events[0]?.event,
      ]);
    });
  });

  test("a run that retries: its node is done after two attempts and the retry error is listed with its stack", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "retry", text: "again" });
    await settled(runId, "completed");
    await withPage(launched(), t.name, async (page) => {
      await openRun(page, runId);
      assert.equal((await drawnStates(page)).work, "done");
      const work = (await store.listItems(runId)).find((item) => item.node === "work");
      assert.equal(work?.attempt, 2);
      assert.equal(await page.locator('tr[data-node-row="work"] [data-field="attempts"]').textContent(), "2");
      const actions = await page.$$eval("ul.errors li", (items) =>
        items.map((li) => li.getAttribute("data-error-action")),
      );
      assert.deepEqual(
        actions,
        (await store.listErrors({ runId })).map((e) => e.action),
      );
      assert.ok(actions.includes("retry"));
      // The thrown Error's stack, as the worker recorded it: collapsed, shown as text when opened.
      const recorded = (await store.listErrors({ runId })).find((e) => e.action === "retry")?.error.stack;
      assert.match(recorded ?? "", /^Error: first attempt fails: again\n\s+at .*console\.workflow\.ts/);
      const stack = page.locator('li[data-error-action="retry"] details[data-stack]');
      assert.equal(await stack.getAttribute("open"), null, "collapsed by default");
      assert.equal(await stack.locator("pre").isVisible(), false);
      await stack.locator("summary").click();
      assert.equal(await stack.locator("pre").textContent(), recorded);
      assert.equal(await stack.locator("pre").isVisible(), true);
    });
  });

  test("a run waiting for its retry shows the node retrying with its due time", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const healFile = join(scratch, "never");
    const runId = await start({ mode: "dead", text: "waiting", healFile });
    await withPage(launched(), t.name, async (page) => {
      await waitFor(
        async () => (await store.listItems(runId)).some((i) => i.node === "work" && i.status === "retrying"),
        {
          message: "work waits for its retry",
        },
      );
      await openRun(page, runId);
      // The page is live: it shows the retry (or, a moment later, the dead letter's failure).
      const state = await waitFor(async () => {
        const s = (await drawnStates(page)).work;
        return s === "retrying" || s === "failed" ? s : null;
      });
      if (state === "retrying") {
        assert.match((await page.locator('tr[data-node-row="work"]').textContent()) ?? "", /retry due/);
      }
      await settled(runId, "failed");
      await waitFor(async () => (await drawnStates(page)).work === "failed", {
        message: "the graph shows the failure live",
      });
    });
  });

  test("a held run: counted parked on the Workflows page, its node drawn held, and Resume from the page re-delivers it", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "hold", text: "wait for me" });
    await waitFor(async () => (await store.getRun(runId))?.held === 1, {
      timeoutMs: 20_000,
      message: "held",
    });
    await withPage(launched(), t.name, async (page) => {
      // The Workflows page counts the items parked now, as the store does.
      await page.goto(ui.url);
      const parked = page.locator('tr[data-workflow="console-e2e"] [data-field="parked"]');
      await waitFor(async () => (await parked.textContent()) === String((await store.readMetrics()).parked), {
        message: "the parked count shown",
      });
      assert.ok(Number(await parked.textContent()) >= 1, "the held item is parked");
      await openRun(page, runId);
      assert.equal((await drawnStates(page)).work, "held");
      assert.equal((await store.listItems(runId)).find((i) => i.node === "work")?.status, "held");
      await page.getByRole("button", { name: "Resume" }).click();
      await page.getByText("Resume: done").waitFor();
      // Resume re-delivers the held item (which holds again: the node always holds).
      await waitFor(
        async () =>
          (await store.listItems(runId)).find((i) => i.node === "work")?.attempt === 1 &&
          (await store.listErrors({ runId })).length === 0 &&
          (await store.getRun(runId))?.held === 1,
        { message: "held again" },
      );
    });
  });

  test("an aborted run: failed, its error shown, the failing node drawn failed", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "fail", text: "stop" });
    await settled(runId, "failed");
    await withPage(launched(), t.name, async (page) => {
      await openRun(page, runId);
      const states = await drawnStates(page);
      assert.equal(states.intake, "done");
      assert.equal(states.work, "failed");
      assert.equal(states.finish, "idle");
      const error = (await store.getRun(runId))?.error;
      assert.equal(await page.getByTestId("run-error").textContent(), `${error?.code}: ${error?.message}`);
    });
  });

  test("a long step shows its worker and lease age; Cancel on the page cancels the run in Redis", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "slow", text: "long" });
    await workRunning(runId);
    await withPage(launched(), t.name, async (page) => {
      await openRun(page, runId);
      assert.equal((await drawnStates(page)).work, "running");
      assert.match(
        (await page.locator('tr[data-node-row="work"]').textContent()) ?? "",
        /on console-worker-1\S*, lease age/,
      );
      page.once("dialog", (dialog) => void dialog.accept());
      await page.getByRole("button", { name: "Cancel" }).click();
      await settled(runId, "cancelled");
      await page.locator('[data-run-status="cancelled"]').waitFor();
    });
  });

  test("a dead letter: listed with its reason and raw entry; Redrive from the page completes its run", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const healFile = join(scratch, "healed");
    const runId = await start({ mode: "dead", text: "poison", healFile });
    await settled(runId, "failed");
    const letter = (await store.deadLetters(1000)).find((l) => l.item.runId === runId);
    assert.ok(letter, "dead-lettered");
    const itemId = letter.item.id;
    await withPage(launched(), t.name, async (page) => {
      await page.goto(`${ui.url}#/w/console-e2e/dead`);
      const row = page.locator(`tr[data-item="${itemId}"]`);
      await row.waitFor({ timeout: 15_000 });
      assert.equal(
        await row.locator("td.reason").textContent(),
        `${letter.error.code}: ${letter.error.message}`,
      );
      await row.getByRole("button", { name: "raw" }).click();
      const raws = await store.deadLetters(1000);
      assert.ok(raws.length > 0);
      const shown = JSON.parse((await page.getByTestId("raw-entry").textContent()) ?? "") as {
        item: { id: string };
      };
      assert.equal(shown.item.id, itemId);
      writeFileSync(healFile, "ok");
      await row.getByRole("button", { name: "Redrive" }).click();
      await settled(runId, "completed");
      assert.equal(
        (await store.deadLetters(1000)).some((l) => l.item.id === itemId),
        false,
      );
      await row.waitFor({ state: "detached" });
      const work = (await store.listItems(runId)).find((i) => i.node === "work");
      assert.equal(work?.status, "completed");
      assert.equal(work?.attempt, 1, "redriven with a fresh attempt count");
    });
  });

  test("markup in inputs, outputs, errors, events and dead letters renders as text, never as HTML", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const ok = await start({ mode: "ok", text: XSS });
    const retried = await start({ mode: "retry", text: XSS });
    const aborted = await start({ mode: "fail", text: XSS });
    const dead = await start({ mode: "dead", text: XSS, healFile: join(scratch, "never-xss") });
    await Promise.all([settled(ok, "completed"), settled(retried, "completed"), settled(aborted, "failed")]);
    await withPage(launched(), t.name, async (page) => {
      for (const runId of [ok, retried, aborted]) {
        await openRun(page, runId);
        const text = (await page.locator("main").textContent()) ?? "";
        assert.ok(
          text.includes(XSS) || text.includes(JSON.stringify(XSS).slice(1, -1)),
          `payload shown as text in ${runId}`,
        );
        assert.equal(await page.locator("main img").count(), 0, "no <img> was created");
        assert.equal(await page.locator("main script").count(), 0, "no <script> was created");
        assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
      }
      const errors = await page.locator("ul.errors").textContent();
      assert.ok(errors?.includes(`aborted: ${XSS}`), "the abort error with its markup, as text");
      // The dead letter's reason and raw entry.
      await settled(dead, "failed");
      await page.goto(`${ui.url}#/w/console-e2e/dead`);
      const row = page.locator("tr[data-item]").filter({ hasText: `dead: ${XSS}` });
      await row.waitFor({ timeout: 15_000 });
      await row.getByRole("button", { name: "raw" }).click();
      assert.match((await page.getByTestId("raw-entry").textContent()) ?? "", /<script>window\.__xss/);
      assert.equal(await page.locator("main img").count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
      await page.goto(`${ui.url}#/w/console-e2e`);
      await page.locator(`tr[data-run="${aborted}"]`).waitFor();
      assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined);
    });
  });

  test("the Runs page filters by status and finds a run by its idempotency key", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const keyed = await start({ mode: "ok", text: "keyed" }, "order-42");
    const failed = await start({ mode: "fail", text: "filtered" });
    await Promise.all([settled(keyed, "completed"), settled(failed, "failed")]);
    await withPage(launched(), t.name, async (page) => {
      await page.goto(`${ui.url}#/w/console-e2e`);
      await page.locator("table.runs").waitFor();
      await page.locator('select[name="status"]').selectOption("failed");
      await page.getByRole("button", { name: "Apply" }).click();
      await page.locator(`tr[data-run="${failed}"]`).waitFor();
      const statuses = await page.$$eval("tr[data-run]", (rows) =>
        rows.map((r) => r.getAttribute("data-status")),
      );
      assert.ok(statuses.length > 0 && statuses.every((s) => s === "failed"), statuses.join());
      assert.equal(statuses.length, (await store.listRuns({ status: "failed", limit: 1000 })).length);
      await page.locator('select[name="status"]').selectOption("");
      await page.locator('input[name="q"]').fill("order-42");
      await page.getByRole("button", { name: "Apply" }).click();
      await page.locator(`tr[data-run="${keyed}"]`).waitFor();
      assert.equal(await page.locator("tr[data-run]").count(), 1);
    });
  });

  test("the Workers page shows the worker, its host and concurrency, and the item it holds with its lease age", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const runId = await start({ mode: "slow", text: "held lease" });
    await workRunning(runId);
    await withPage(launched(), t.name, async (page) => {
      await page.goto(`${ui.url}#/w/console-e2e/workers`);
      // The lease shows at once; "busy" with the worker's next heartbeat (the page is live).
      const row = page
        .locator("tr[data-worker]")
        .filter({ hasText: "lease age" })
        .filter({ hasText: "busy" });
      await row.waitFor({ timeout: 15_000 });
      assert.match(
        (await row.textContent()) ?? "",
        /console-worker-1.*busy.*work\s*\(console-worker-1\/\d+\) attempt\s*1,\s*lease age/s,
      );
      // The worker process runs with --concurrency 4 on this host (its pod name in Kubernetes).
      assert.equal(await row.locator('[data-field="concurrency"]').textContent(), "4");
      assert.equal(await row.locator('[data-field="host"]').textContent(), hostname());
    });
    await store.cancelRun(runId, "test over");
  });
});

describe("console safety", () => {
  test("a read-only console shows no action and refuses one", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const readOnly = await startConsole({
      host: "127.0.0.1",
      port: 0,
      readOnly: true,
      workflows: ["console-e2e"],
      redis: { redisUrl: redis.url, keyPrefix },
      env: {},
    });
    try {
      const runId = await start({ mode: "hold", text: "read only" });
      await waitFor(async () => (await store.getRun(runId))?.held === 1, {
        timeoutMs: 20_000,
        message: "held",
      });
      await withPage(launched(), t.name, async (page) => {
        await page.goto(`${readOnly.url}#/w/console-e2e/run/${runId}`);
        await page.locator("[data-run-status]").waitFor();
        assert.equal(await page.locator("main button", { hasText: /Cancel|Pause|Resume/ }).count(), 0);
      });
      const response = await fetch(`${readOnly.url}api/runs/cancel`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-floxide-console": "1" },
        body: JSON.stringify({ workflow: "console-e2e", runId }),
      });
      assert.equal(response.status, 403);
      assert.equal((await store.getRun(runId))?.status, "running");
      await store.cancelRun(runId, "test over");
    } finally {
      await readOnly.close();
    }
  });

  test("with a token: the API refuses calls without it, and the page asks for it", async (t) => {
    if (skip()) return t.skip(skip() as string);
    const token = "console-test-token-0123456789";
    const guarded = await startConsole({
      host: "127.0.0.1",
      port: 0,
      readOnly: false,
      authToken: token,
      workflows: ["console-e2e"],
      redis: { redisUrl: redis.url, keyPrefix },
      env: {},
    });
    try {
      assert.equal((await fetch(`${guarded.url}api/workflows`)).status, 401);
      const cancel = await fetch(`${guarded.url}api/runs/cancel`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-floxide-console": "1" },
        body: JSON.stringify({ workflow: "console-e2e", runId: "x" }),
      });
      assert.equal(cancel.status, 401);
      const ok = await fetch(`${guarded.url}api/workflows`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200);
      await withPage(launched(), t.name, async (page) => {
        await page.goto(guarded.url);
        await page.locator('input[name="token"]').fill("wrong");
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByText("That token is not accepted.").waitFor();
        await page.locator('input[name="token"]').fill(token);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.locator('tr[data-workflow="console-e2e"]').waitFor({ timeout: 15_000 });
      });
    } finally {
      await guarded.close();
    }
  });
});
