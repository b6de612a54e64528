/**
 * The demo's live view in a real terminal: an 80-column tmux pane. The screen captured at the
 * end must hold exactly one live block (no garbled redraws), no line wider than the pane, the
 * chart and the summary.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { waitFor } from "../../support/wait.ts";

const tmux = (...args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
const available = tmux("-V").status === 0;

test(
  "floxide demo redraws cleanly in an 80-column tmux pane",
  { skip: !available && "tmux not on PATH" },
  async () => {
    const session = `floxide-demo-${process.pid}`;
    const command = [
      process.execPath,
      "cli/main.ts",
      "demo",
      ...["--runs", "60", "--backend", "memory", "--start-over", "2", "--max-delay", "20"],
    ].join(" ");
    const started = tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "40", `${command}; sleep 60`);
    assert.equal(started.status, 0, started.stderr);
    try {
      let screen = "";
      await waitFor(
        () => {
          screen = tmux("capture-pane", "-p", "-t", session).stdout;
          return /summary: runs completed/.test(screen);
        },
        { timeoutMs: 60_000, intervalMs: 200, message: "the demo's summary in the pane" },
      );
      const lines = screen.split("\n");
      for (const line of lines) assert.ok([...line].length <= 80, `wider than 80 columns: ${line}`);
      const blockStarts = lines.filter((line) => line.startsWith("runs      ["));
      assert.equal(blockStarts.length, 1, `one live block on screen, got:\n${screen}`);
      assert.match(screen, /runs {6}\[#{24}\] 60\/60 done, 60 started/);
      assert.match(screen, /^workers {2}\|.*\| max 4$/m);
      assert.match(screen, /^backlog {2}\|.*\| peak \d+$/m);
      assert.match(screen, /^summary: runs completed 60\/60, failed 0/m);
    } finally {
      tmux("kill-session", "-t", session);
    }
  },
);
