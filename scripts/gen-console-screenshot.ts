/**
 * Regenerates docs/console.png, the README's picture of the console: a real redis-server, a real
 * `floxide worker` process and the console, runs that succeed, retry, hold, dead-letter and one
 * long step in flight, and headless chromium's screenshot of that run's page.
 * Run: npm run gen:console-screenshot (needs chromium: scripts/provision.sh chromium).
 */
import { startConsole } from "../console/server/main.ts";
import { launchBrowser } from "../test/support/browser.ts";
import { startRedis } from "../test/support/redis.ts";
import { waitFor } from "../test/support/wait.ts";
import { WorkerBed } from "../test/support/worker-bed.ts";
import { scriptArgs } from "../common/script-args.ts";

scriptArgs(
  "usage: npm run gen:console-screenshot\n  regenerates docs/console.png (a real redis-server, worker and console; needs chromium)\n",
);

const MODULE = new URL("../test/integration/console/console.workflow.ts", import.meta.url).pathname;
const OUT = new URL("../docs/console.png", import.meta.url).pathname;

const browser = await launchBrowser();
if ("skip" in browser) throw new Error(browser.skip);
const redis = await startRedis();
const bed = new WorkerBed(() => redis.url, "shot");
try {
  const { store, orchestrator, keyPrefix, worker } = await bed.setup(MODULE);
  await worker(["--concurrency", "4"], "worker-7f9c2");
  const start = async (mode: string, text: string) => (await orchestrator.start({ mode, text })).runId;
  const done = [await start("ok", "invoice 1041"), await start("retry", "invoice 1042")];
  await start("hold", "invoice 1043");
  await start("dead", "invoice 1044");
  const slow = await start("slow", "invoice 1045");
  for (const runId of done)
    await waitFor(async () => (await store.getRun(runId))?.status === "completed", { timeoutMs: 30_000 });
  await waitFor(
    async () => (await store.readEvents(slow, 0)).length > 0 && (await store.listItems(slow)).length === 2,
    {
      timeoutMs: 30_000,
    },
  );
  const ui = await startConsole({
    host: "127.0.0.1",
    port: 0,
    readOnly: false,
    workflows: [MODULE],
    redis: { redisUrl: redis.url, keyPrefix },
    env: {},
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    await page.goto(`${ui.url}#/w/console-e2e/run/${slow}`);
    await page.locator('svg.graph g[data-node="work"][data-state="running"]').waitFor({ timeout: 15_000 });
    await page.screenshot({ path: OUT });
    process.stdout.write(`wrote ${OUT}\n`);
    await store.cancelRun(slow, "screenshot taken");
  } finally {
    await ui.close();
  }
} finally {
  await browser.close();
  await bed.close();
  await redis.stop();
}
