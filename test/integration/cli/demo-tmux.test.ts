/**
 * The demo's live view in a real terminal: an 80-column tmux pane. Every screen captured while
 * it runs, and the one at the end, must hold at most one live block (no garbled redraws: the
 * block's lines in their order, each whole), no line wider than the pane, and the runs bar must
 * be seen part-way (runs finish over time); the end shows the chart and the summary.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { waitFor } from "../../support/wait.ts";

const tmux = (...args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
const available = tmux("-V").status === 0;
const RUNS = 60;

/** The live block's lines, in order, as a screen shows them (view.ts liveBlock). */
const BLOCK = [
  /^runs {6}\[[#-]{24}\] \d+\/\d+ done, \d+ started$/,
  /^ready {5}\[[#-]{24}\] \d+\+?$/,
  /^in flight \[[#-]{24}\] \d+ {2}delayed \d+ {2}dead \d+$/,
  /^workers {3}\[[#-]{24}\] \d+\/\d+ \(desired \d+\)$/,
  /^ {10}\d+ running, \d+ starting, \d+ draining; failed runs \d+$/,
  /^steps {5}\d+ {2}\d+ steps\/s {2}[\d.]+ s$/,
];

/** Checks one captured screen; returns the runs done it shows, or undefined without a block. */
function checkScreen(screen: string): number | undefined {
  const lines = screen.split("\n").map((line) => line.trimEnd());
  for (const line of lines) assert.ok([...line].length <= 80, `wider than 80 columns: ${line}`);
  const starts = lines.flatMap((line, index) => (line.startsWith("runs      [") ? [index] : []));
  assert.ok(starts.length <= 1, `at most one live block on screen, got:\n${screen}`);
  const start = starts[0];
  if (start === undefined) return undefined;
  // The block is drawn last: a block cut by a redraw in progress shows fewer lines, never others.
  const block = lines.slice(start, start + BLOCK.length).filter((line) => line !== "");
  block.forEach((line, index) =>
    assert.match(line, BLOCK[index] as RegExp, `live block line ${index + 1}:\n${screen}`),
  );
  for (const line of lines.filter((l) => l.startsWith("scale: "))) {
    assert.match(line, /^scale: \d+ -> \d+ workers \(\w+: /, `a scale message from its start:\n${screen}`);
  }
  return Number(/^runs {6}\S+ (\d+)\//.exec(lines[start] as string)?.[1]);
}

test(
  "floxide demo redraws cleanly in an 80-column tmux pane, progress moving",
  { skip: !available && "tmux not on PATH" },
  async () => {
    const session = `floxide-demo-${process.pid}`;
    const command = [
      process.execPath,
      "cli/main.ts",
      "demo",
      ...["--runs", String(RUNS), "--backend", "memory", "--start-over", "2", "--max-delay", "20"],
    ].join(" ");
    const started = tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "40", `${command}; sleep 60`);
    assert.equal(started.status, 0, started.stderr);
    try {
      const screens: string[] = [];
      await waitFor(
        () => {
          screens.push(tmux("capture-pane", "-p", "-t", session).stdout);
          return /summary: runs completed/.test(screens.at(-1) as string);
        },
        { timeoutMs: 60_000, intervalMs: 100, message: "the demo's summary in the pane" },
      );
      const done = new Set(screens.map(checkScreen).filter((n) => n !== undefined));
      const screen = screens.at(-1) as string;
      assert.ok(
        [...done].some((n) => n > 0 && n < RUNS),
        `the runs bar seen part-way (runs finish over time), saw ${[...done].sort((a, b) => a - b).join(", ")}`,
      );
      assert.equal(checkScreen(screen), RUNS, `the final screen has the live block:\n${screen}`);
      assert.match(screen, /runs {6}\[#{24}\] 60\/60 done, 60 started/);
      assert.match(screen, /^workers {2}\|.*\| max 4$/m);
      assert.match(screen, /^backlog {2}\|.*\| peak \d+$/m);
      assert.match(screen, /^summary: runs completed 60\/60, failed 0/m);
    } finally {
      tmux("kill-session", "-t", session);
    }
  },
);
