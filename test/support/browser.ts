/**
 * A real headless browser for the console's tests: Debian's chromium driven by playwright-core
 * with the installed executable (Playwright's own download cannot work offline). When chromium
 * is missing, scripts/provision.sh is asked to install it once; only if that fails too do the
 * tests skip, with the reason. Screenshots of failing pages go to .scratch/console-screenshots/
 * (gitignored).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

const ROOT = new URL("../../", import.meta.url).pathname;
export const SCREENSHOTS = join(ROOT, ".scratch", "console-screenshots");

function findChromium(): string | null {
  const candidates = [process.env.FLOXIDE_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const candidate of candidates)
    if (candidate !== undefined && candidate !== "" && existsSync(candidate)) return candidate;
  const which = spawnSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() !== "" ? which.stdout.trim() : null;
}

/** The browser, or why there is none (absent and not installable here). */
export async function launchBrowser(): Promise<Browser | { skip: string }> {
  let path = findChromium();
  if (path === null) {
    const provision = spawnSync("bash", [join(ROOT, "scripts", "provision.sh"), "chromium"], {
      encoding: "utf8",
    });
    path = findChromium();
    if (path === null) {
      return {
        skip: `chromium is not installed and scripts/provision.sh could not install it (${provision.stderr.trim().split("\n").at(-1) ?? "no output"}): apt-get install chromium, or set FLOXIDE_CHROMIUM`,
      };
    }
  }
  return chromium.launch({ executablePath: path, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** Runs `body` with a fresh page; on failure saves a full-page screenshot named after the test. */
export async function withPage<T>(
  browser: Browser,
  name: string,
  body: (page: Page) => Promise<T>,
): Promise<T> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  try {
    return await body(page);
  } catch (error) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const file = join(SCREENSHOTS, `${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80)}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    throw new Error(`${(error as Error).message}\n(screenshot: ${file})\n${problems.join("\n")}`, {
      cause: error,
    });
  } finally {
    await context.close();
  }
}
