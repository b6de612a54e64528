/**
 * `floxide completion bash|zsh`: a completion script generated from the command tree, so it
 * offers exactly the commands and options `--help` shows. zsh loads the bash function through
 * bashcompinit (shipped with zsh).
 */
import type { Command } from "commander";

/** Every command path ("", "run", "run start", ...) with the words that may follow it. */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const visit = (command: Command, path: string): void => {
    const words = [
      ...command.commands.map((child) => child.name()),
      ...command.options.flatMap((option) => (option.long === undefined ? [] : [option.long])),
      "--help",
    ];
    table.set(path, [...new Set(words)]);
    for (const child of command.commands)
      visit(child, path === "" ? child.name() : `${path} ${child.name()}`);
  };
  visit(program, "");
  return table;
}

export function completionScript(program: Command, shell: "bash" | "zsh"): string {
  const cases = [...completionTable(program)]
    .map(([path, words]) => `    "${path}") words="${words.join(" ")}" ;;`)
    .join("\n");
  const bash = `# floxide completion (bash): eval "$(floxide completion bash)"
_floxide_complete() {
  local cur path="" word i words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    case " $(_floxide_words "\${path}") " in
      *" $word "*) path="\${path:+$path }$word" ;;
    esac
  done
  words="$(_floxide_words "$path")"
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
_floxide_words() {
  local words=""
  case "$1" in
${cases}
  esac
  printf '%s' "$words"
}
complete -o default -F _floxide_complete floxide
`;
  return shell === "bash"
    ? bash
    : `# floxide completion (zsh): eval "$(floxide completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash.replace(/^# .*\n/, "")}`;
}
