/**
 * `makuo --completions bash`, written from the same grammar the command line is read by (`grammarOf`), in place of
 * @effect/cli's: that one offers files after every flag (`-r <TAB>`), as if a flag took a value, offers `--wizard`,
 * and knows nothing of member names. Here a flag takes no value (a PATH follows), an option's value is completed by
 * its kind (files, directories, its choices, nothing for a number or a duration), and `-t <TAB>` asks the daemon
 * for its members' names (`makuo members --json`, with the line's `--control` if it has one; nothing when no
 * daemon answers).
 */
import type { Grammar } from "./argv.js"

/** How an option's value completes, by its name or what its usage says it accepts. */
const valueCompletion = (long: string, accepts: string | undefined): string => {
  if (long === "--target") return `COMPREPLY=( $(compgen -W "$(_makuo_members)" -- "$cur") )`
  if (long === "--base") return `compopt -o filenames 2>/dev/null; COMPREPLY=( $(compgen -d -- "$cur") )`
  if (accepts === "file" || ["--control", "--config"].includes(long)) return FILES
  const choices = accepts?.split(" | ") ?? []
  return choices.length > 1 ? `COMPREPLY=( $(compgen -W "${choices.join(" ")}" -- "$cur") )` : "COMPREPLY=()"
}

const FILES = `compopt -o filenames 2>/dev/null; COMPREPLY=( $(compgen -f -- "$cur") )`

const indent = (lines: ReadonlyArray<string>, n: number) => lines.map((l) => " ".repeat(n) + l)

export const bashCompletions = (grammar: Grammar): string => {
  const p = grammar.program
  const commands = [...grammar.commands.keys()]
  const builtIns = grammar.builtIns.filter((o) => ["--help", "--version", "--completions"].includes(o.long))
  const commandCases = commands.flatMap((name) => {
    const spec = grammar.commands.get(name)!
    const options = [...spec.options, ...builtIns.filter((b) => b.long === "--help")]
    const valued = spec.options.filter((o) => o.takesValue)
    return [
      `${name})`,
      ...indent([
        `case "$prev" in`,
        ...valued.map((o) => `  ${o.names.join("|")}) ${valueCompletion(o.long, o.accepts)}; return ;;`),
        "esac",
        `if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "${options.flatMap((o) => o.names).join(" ")}" -- "$cur") ); return; fi`,
        spec.takesPaths ? FILES : "COMPREPLY=()",
        ";;"
      ], 2)
    ]
  })
  const completions = builtIns.find((b) => b.long === "--completions")
  return [
    `# bash completion for ${p}: source <(${p} --completions bash)`,
    `_${p}_members() {`,
    `  local i control=()`,
    `  for ((i = 1; i < \${#COMP_WORDS[@]} - 1; i++)); do`,
    `    [[ "\${COMP_WORDS[i]}" == --control ]] && control=(--control "\${COMP_WORDS[i+1]}")`,
    `  done`,
    `  "\${COMP_WORDS[0]}" members --json "\${control[@]}" 2>/dev/null | tr ',{' '\\n\\n' | sed -n 's/^"host":"\\([^"]*\\)"$/\\1/p'`,
    `}`,
    `_${p}() {`,
    `  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cmd="" i`,
    `  for ((i = 1; i < COMP_CWORD; i++)); do`,
    `    case "\${COMP_WORDS[i]}" in`,
    `      ${[...commands, "help"].join("|")}) cmd="\${COMP_WORDS[i]}"; break ;;`,
    `    esac`,
    `  done`,
    `  case "$cmd" in`,
    `    "")`,
    `      case "$prev" in`,
    `        --completions) ${valueCompletion("--completions", completions?.accepts)}; return ;;`,
    `      esac`,
    `      COMPREPLY=( $(compgen -W "${[...commands, "help", ...builtIns.flatMap((b) => b.names)].join(" ")}" -- "$cur") )`,
    `      ;;`,
    `    help)`,
    `      COMPREPLY=( $(compgen -W "${commands.join(" ")}" -- "$cur") )`,
    `      ;;`,
    ...indent(commandCases, 4),
    `  esac`,
    `}`,
    `complete -F _${p} ${p}`
  ].join("\n")
}
