import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { Command } from "commander";
import { main } from "../../../cli/main.ts";
import { buildProgram, type Io } from "../../../cli/program.ts";

async function floxide(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: Io = { out: (text) => void (out += text), err: (text) => void (err += text), env: {} };
  const code = await main(argv, io);
  return { code, out, err };
}

function paths(command: Command, prefix: string[] = []): { path: string[]; command: Command }[] {
  return command.commands.flatMap((child) => {
    const path = [...prefix, child.name()];
    return [{ path, command: child }, ...paths(child, path)];
  });
}

const program = buildProgram({ out: () => undefined, err: () => undefined, env: {} }, () => undefined);
const commands = paths(program);
const tree = commands.map(({ path }) => path);

test("the command tree has every command the README names", () => {
  const names = tree.map((path) => path.join(" "));
  for (const name of ["demo", "dev", "worker", "operator", "run start", "run show", "queue stats", "graph"])
    assert.ok(names.includes(name), name);
});

for (const { path, command } of [{ path: [], command: program }, ...commands]) {
  test(`floxide ${[...path, "--help"].join(" ")} prints usage, every option with its default and variable, and exits 0`, async () => {
    const { code, out } = await floxide(...path, "--help");
    assert.equal(code, 0);
    assert.match(out, new RegExp(`^Usage: floxide ${path.filter((p) => p !== "help").join(" ")}`.trimEnd()));
    const text = out.replace(/\s+/g, " ");
    for (const option of command.options) {
      assert.ok(text.includes(option.flags), `${option.flags} in:\n${out}`);
      if (option.envVar !== undefined)
        assert.ok(text.includes(`env: ${option.envVar}`), `${option.envVar} in:\n${out}`);
      if (option.defaultValue !== undefined && option.defaultValue !== false) {
        const shown = `default: ${JSON.stringify(option.defaultValue)}`;
        assert.ok(text.includes(shown), `${option.flags} ${shown} in:\n${out}`);
      }
    }
  });
}

test("--help shows defaults and the matching environment variables", async () => {
  const { out } = await floxide("run", "list", "--help");
  assert.match(out, /--redis <value>[\s\S]*env:\s+FLOXIDE_REDIS_URL/);
  assert.match(out, /--limit <n>[\s\S]*default: 50/);
});

test("an unknown option exits 2 naming the closest valid one", async () => {
  const { code, err } = await floxide("worker", "--concurrrency", "3");
  assert.equal(code, 2);
  assert.match(err, /unknown option '--concurrrency'/);
  assert.match(err, /Did you mean --concurrency\?/);
  const sub = await floxide("run", "show", "x", "--workflw", "video");
  assert.equal(sub.code, 2);
  assert.match(sub.err, /Did you mean --workflow\?/);
});

test("no command, an unknown command, a missing argument: exit 2", async () => {
  assert.equal((await floxide()).code, 2);
  const unknown = await floxide("frobnicate");
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command 'frobnicate'/);
  assert.equal((await floxide("run", "show")).code, 2);
  assert.equal((await floxide("run")).code, 2);
});

test("an invalid FLOXIDE_REDIS_MODE is a usage error, not a silent standalone", async () => {
  let err = "";
  const io: Io = {
    out: () => undefined,
    err: (text) => void (err += text),
    env: { FLOXIDE_REDIS_URL: "redis://127.0.0.1:1", FLOXIDE_REDIS_MODE: "clustr" },
  };
  assert.equal(await main(["queue", "stats", "video"], io), 2);
  assert.match(err, /FLOXIDE_REDIS_MODE must be one of standalone, cluster, sentinel, got 'clustr'/);
});

test("floxide completion bash completes commands, subcommands and options", async () => {
  const { code, out } = await floxide("completion", "bash");
  assert.equal(code, 0);
  const complete = (line: string): string[] => {
    const words = line.split(" ");
    const script = `${out}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _floxide_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = spawnSync("bash", ["-c", script], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim().split("\n");
  };
  assert.deepEqual(complete("floxide ru"), ["run"]);
  assert.deepEqual(complete("floxide run s").sort(), ["show", "start", "status"]);
  assert.ok(complete("floxide worker --conc").includes("--concurrency"));
  assert.ok(complete("floxide run start x --red").includes("--redis"));
  const zsh = await floxide("completion", "zsh");
  assert.equal(zsh.code, 0);
  assert.match(zsh.out, /bashcompinit/);
  assert.equal((await floxide("completion", "fish")).code, 2);
});
