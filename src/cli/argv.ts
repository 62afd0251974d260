/**
 * The command line, read before @effect/cli sees it. @effect/cli 0.77 reads some command lines wrongly, and every
 * way it does so turns an option into a PATH or drops it: `--exclude='*.log'` (the `=` form of a repeated option),
 * an unknown option and every option after it, a second `--parallel`, are all taken for PATHs; a flag takes a
 * following `yes`, `no`, `1` or `0` as its value, so a PATH with such a name disappears; a command's own option
 * named like one of @effect/cli's built-ins (the daemon's `--log-level`) is taken by the built-in when it comes first.
 *
 * So makuo reads the arguments itself, by the options each command declares to @effect/cli (their usage, so
 * there is no second list to keep in step), and refuses what is not an option of that command (exit 2, nothing
 * reaches a daemon): an argument that starts with `-` before `--` is an option or an error; `--name=value` works
 * for every option that takes a value and is refused for a flag; options may come after PATHs; `--` ends the
 * options, so a PATH may start with `-`; short flags may be clustered (`-rn`), as @effect/cli allows, but an
 * option that takes a value may not be in a cluster. What @effect/cli then gets is one form it reads right:
 * the built-in options, every option as `--name` or `--name VALUE`, `--` and the PATHs.
 */
import { AutoCorrect, BuiltInOptions, CliConfig, Command, CommandDescriptor, HelpDoc, Options, Usage } from "@effect/cli"
import { Either, HashMap, Option } from "effect"
import { UsageError } from "./errors.js"

/** One option as the user may write it. */
interface OptionSpec {
  /** Every name, long and short (`--recursive`, `-r`). */
  readonly names: ReadonlyArray<string>
  /** The name @effect/cli is handed. */
  readonly long: string
  readonly takesValue: boolean
  readonly repeatable: boolean
  /** What its value may be, as @effect/cli's usage says: `integer`, `float`, `text`, `debug | info`. */
  readonly accepts: string | undefined
}

/** An option as given: `value` is undefined for a flag. */
interface Given {
  readonly option: OptionSpec
  readonly value: string | undefined
}

interface CommandSpec {
  readonly options: ReadonlyArray<OptionSpec>
  readonly takesPaths: boolean
}

export interface Grammar {
  readonly program: string
  readonly builtIns: ReadonlyArray<OptionSpec>
  readonly commands: ReadonlyMap<string, CommandSpec>
}

type Named = {
  readonly names: ReadonlyArray<string>
  readonly takesValue: boolean
  readonly repeatable: boolean
  readonly accepts: string | undefined
}

/** The named things of a usage: options (`-r`, `--target`), positionals (`<PATH>`) and the command's own name. */
const namedIn = (usage: Usage.Usage, repeatable = false): ReadonlyArray<Named> => {
  switch (usage._tag) {
    case "Empty":
    case "Mixed":
      return []
    case "Named":
      return [{ names: usage.names, takesValue: Option.isSome(usage.acceptedValues), repeatable, accepts: Option.getOrUndefined(usage.acceptedValues) }]
    case "Optional":
      return namedIn(usage.usage, repeatable)
    case "Repeated":
      return namedIn(usage.usage, true)
    case "Alternation":
    case "Concat":
      return [...namedIn(usage.left, repeatable), ...namedIn(usage.right, repeatable)]
    default:
      return usage satisfies never
  }
}

const optionsIn = (usage: Usage.Usage): ReadonlyArray<OptionSpec> =>
  namedIn(usage).filter((n) => n.names.every((name) => name.startsWith("-"))).map((n) => ({
    ...n,
    long: n.names.find((name) => name.startsWith("--")) ?? n.names[0]!
  }))

/** What every subcommand of `root` accepts, read from the options and arguments it declares to @effect/cli. */
export const grammarOf = <Name extends string, R, E, A>(root: Command.Command<Name, R, E, A>): Grammar => ({
  program: namedIn(Command.getUsage(root))[0]?.names[0] ?? "",
  // @effect/cli's --wizard asks for every option interactively: a command line that means something else by accident
  builtIns: optionsIn(Options.getUsage(BuiltInOptions.builtInOptions(root.descriptor, Usage.empty, HelpDoc.empty)))
    .filter((o) => !o.names.includes("--wizard")),
  commands: new Map(
    [...HashMap.entries(Command.getSubcommands(root))].map(([name, descriptor]) => {
      const usage = CommandDescriptor.getUsage(descriptor)
      return [name, { options: optionsIn(usage), takesPaths: namedIn(usage).some((n) => n.names.some((m) => m.startsWith("<"))) }]
    })
  )
})

/** The candidate closest to `given`, when it is close enough to be what was meant. */
const closest = (given: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: { readonly name: string; readonly distance: number } | undefined
  for (const name of candidates) {
    const distance = AutoCorrect.levensteinDistance(given, name, CliConfig.defaultConfig)
    if (best === undefined || distance < best.distance) best = { name, distance }
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(given.length / 4)) ? best.name : undefined
}

const usage = (detail: string) => Either.left(new UsageError({ detail }))

/** What is wrong with `value` for an option that accepts `accepts`, checked here so that the error names the option. */
const badValue = (accepts: string | undefined, value: string): string | undefined => {
  if (accepts === "integer") return /^[+-]?\d+$/.test(value) ? undefined : "not an integer"
  if (accepts === "float") return value.trim() !== "" && Number.isFinite(Number(value)) ? undefined : "not a number"
  const choices = accepts?.split(" | ") ?? []
  return choices.length < 2 || choices.includes(value) ? undefined : `not one of ${choices.join(", ")}`
}

/**
 * `args` (without the runtime and script) as @effect/cli should get them, or the first thing wrong with them.
 * Before the subcommand only @effect/cli's built-ins (`--help`, `--version`, `--completions`, `--log-level`)
 * are options; a command line without a subcommand is left to @effect/cli (it shows the help).
 */
export const readArgv = (grammar: Grammar, args: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, UsageError> => {
  const where = `'${grammar.program}'`
  let i = 0
  while (i < args.length) {
    const arg = args[i]!
    if (grammar.commands.has(arg)) {
      const rest = readCommand(grammar, arg, args.slice(i + 1))
      return Either.map(rest, (rest) => [...args.slice(0, i + 1), ...rest])
    }
    if (!arg.startsWith("-")) {
      const guess = closest(arg, [...grammar.commands.keys()])
      return usage(`unknown command '${arg}' for ${where}${guess === undefined ? "" : ` (did you mean ${guess}?)`}`)
    }
    const [name, inline] = splitLong(arg)
    const option = grammar.builtIns.find((o) => o.names.includes(name))
    if (option === undefined) return unknown(arg, grammar.builtIns, where)
    const value = option.takesValue ? inline ?? args[++i] : undefined
    if (option.takesValue && value === undefined) return usage(`${name} needs a value`)
    const bad = value === undefined ? undefined : badValue(option.accepts, value)
    if (bad !== undefined) return usage(`${name} ${value}: ${bad}`)
    i++
  }
  return Either.right(args)
}

const splitLong = (arg: string): readonly [string, string | undefined] => {
  const eq = arg.indexOf("=")
  return arg.startsWith("--") && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined]
}

const unknown = (arg: string, options: ReadonlyArray<OptionSpec>, where: string) => {
  const asLong = arg.startsWith("--") ? splitLong(arg)[0] : `-${arg}`
  const guess = closest(asLong, options.map((o) => o.long))
  return usage(`unknown option ${arg} for ${where}${guess === undefined ? "" : ` (did you mean ${guess}?)`}`)
}

const readCommand = (grammar: Grammar, command: string, args: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, UsageError> => {
  const spec = grammar.commands.get(command)!
  const where = `'${grammar.program} ${command}'`
  // the command's own options win over a built-in of the same name
  const known = [...spec.options, ...grammar.builtIns.filter((b) => !b.names.some((n) => spec.options.some((o) => o.names.includes(n))))]
  const byName = new Map(known.flatMap((o) => o.names.map((n) => [n, o] as const)))
  const isOptionName = (value: string) => known.some((o) => o.names.some((n) => n.toLowerCase() === value.toLowerCase()))
  const given: Array<Given> = []
  const paths: Array<string> = []

  const take = (option: OptionSpec, written: string, inline: string | undefined, next: () => string | undefined) => {
    if (!option.takesValue) {
      if (inline !== undefined) return `${written} takes no value (got ${written}=${inline})`
      if (!given.some((g) => g.option === option)) given.push({ option, value: undefined })
      return undefined
    }
    const value = inline ?? next()
    if (value === undefined) return `${written} needs a value`
    if (value === "") return `${written}: empty value`
    // a forgotten value (`-t -n`); @effect/cli would also read such a value as the option it names
    if (isOptionName(value)) return `${written} needs a value (got the option ${value})`
    const bad = badValue(option.accepts, value)
    if (bad !== undefined) return `${written} ${value}: ${bad}`
    if (!option.repeatable && given.some((g) => g.option === option)) return `${option.long} given twice`
    given.push({ option, value })
    return undefined
  }

  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const next = () => args[++i]
    if (arg === "--") {
      paths.push(...args.slice(i + 1))
      break
    }
    if (!arg.startsWith("-")) {
      paths.push(arg)
      continue
    }
    if (arg.startsWith("--") || arg.length <= 2) {
      const [name, inline] = splitLong(arg)
      const option = byName.get(name)
      if (option === undefined) return unknown(arg, known, where)
      const error = take(option, name, inline, next)
      if (error !== undefined) return usage(error)
      continue
    }
    // a cluster of short flags: -rn
    for (const letter of arg.slice(1)) {
      const option = byName.get(`-${letter}`)
      if (option === undefined) return unknown(arg, known, where)
      if (option.takesValue) return usage(`-${letter} takes a value: write -${letter} VALUE or ${option.long}=VALUE, not ${arg}`)
      take(option, `-${letter}`, undefined, next)
    }
  }
  if (paths.length > 0 && !spec.takesPaths) return usage(`${where} takes no PATH (got '${paths[0]}')`)
  return Either.right(canonical(grammar, spec, given, paths))
}

const canonical = (
  grammar: Grammar,
  spec: CommandSpec,
  given: ReadonlyArray<Given>,
  paths: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const isBuiltIn = (g: Given) => grammar.builtIns.includes(g.option)
  const shadowsBuiltIn = (g: Given) => !isBuiltIn(g) && grammar.builtIns.some((b) => b.long === g.option.long)
  // @effect/cli looks for its built-ins at the head of the arguments only: they go first, and an own option named
  // like one must not come first (a flag given `false`, which is what leaving it out means, stands before it then)
  const ordered = [
    ...given.filter(isBuiltIn),
    ...given.filter((g) => !isBuiltIn(g) && !shadowsBuiltIn(g)),
    ...given.filter(shadowsBuiltIn)
  ]
  const flag = spec.options.find((o) => !o.takesValue)
  const lead = ordered[0] !== undefined && shadowsBuiltIn(ordered[0]) && flag !== undefined ? [flag.long, "false"] : []
  return [
    ...lead,
    ...ordered.flatMap((g) => (g.value === undefined ? [g.option.long] : [g.option.long, g.value])),
    ...(paths.length > 0 ? ["--", ...paths] : [])
  ]
}
