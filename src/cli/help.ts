/**
 * makuo's help, written from what each command declares to @effect/cli but laid out here: @effect/cli 0.77 ends
 * every option with "This setting is optional.", lists its own built-ins (a second `--log-level` beside the
 * daemon's, `--wizard`) under every command, shows each command's full usage as one line in the command list and
 * calls the program by the subcommand's name alone (`$ send ...`). Here: each option's own description, ending
 * with its default when it has one; the built-ins once, in the overview; `makuo send ...`; everything wrapped to
 * the terminal (80 columns into a pipe). `makuo help send` is `makuo send --help`.
 */
import { CliConfig, CommandDescriptor, HelpDoc, Usage } from "@effect/cli"
import type { Span } from "@effect/cli/HelpDoc/Span"
import { HashMap } from "effect"

/** What the help of a program is made from: its name, version, description and subcommands. */
export interface HelpSource {
  readonly program: string
  readonly version: string
  readonly description: string
  readonly commands: HashMap.HashMap<string, CommandDescriptor.Command<unknown>>
  /** The order the overview lists the commands in. */
  readonly order: ReadonlyArray<string>
}

const config = CliConfig.make({ showBuiltIns: false })

const spanText = (span: Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Highlight":
    case "Strong":
    case "Weak":
      return spanText(span.value)
    case "Sequence":
      return spanText(span.left) + spanText(span.right)
    default:
      return span satisfies never
  }
}

/**
 * `text` broken into lines of at most `width` columns (a longer word stays whole), the first after `indent`
 * spaces, the others after `hanging`. A line that starts with spaces (an example) stays as it is. In a usage
 * (`grouped`), a bracketed group (`[--base text]`) is one word.
 */
const wrap = (text: string, indent: number, width: number, hanging = indent, grouped = false): ReadonlyArray<string> =>
  text.split("\n").flatMap((line) => {
    if (line === "") return [""]
    if (line.startsWith(" ")) return [" ".repeat(indent) + line]
    const out: Array<string> = []
    let current = ""
    let pad = " ".repeat(indent)
    for (const word of grouped ? groups(line) : line.split(/ +/)) {
      if (current !== "" && pad.length + current.length + 1 + word.length > width) {
        out.push(pad + current)
        current = ""
        pad = " ".repeat(hanging)
      }
      current = current === "" ? word : `${current} ${word}`
    }
    out.push(pad + current)
    return out
  })

const groups = (line: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  let depth = 0
  let word = ""
  for (const c of line) {
    if (c === " " && depth === 0) {
      if (word !== "") out.push(word)
      word = ""
      continue
    }
    if (c === "[" || c === "(") depth++
    if ((c === "]" || c === ")") && depth > 0) depth--
    word += c
  }
  if (word !== "") out.push(word)
  return out
}

/** The sentences @effect/cli puts before an option's own description, naming only its type. */
const GENERIC = new Set([
  "A user-defined piece of text.",
  "A user-defined piece of text that is confidential.",
  "A true or false value.",
  "A floating point number.",
  "An integer.",
  "An existing file or directory.",
  "An existing file.",
  "An existing directory.",
  "A file or directory.",
  "A file.",
  "A directory."
])

/**
 * @effect/cli's own sentences in an option's help: its type, that it is optional ("Defaults to" is never filled in
 * for a plain default, so each description states its default itself), that it repeats (the usage's `...` says
 * so), its choices (the usage lists them).
 */
const GENERATED = /^(?:This (?:setting|argument) is optional\.|This (?:option|argument) may be repeated zero or more times\.$|One of the following: )/

/** The paragraphs of one option's help that the option's own description wrote. */
const optionParagraphs = (doc: HelpDoc.HelpDoc): ReadonlyArray<string> =>
  flatten(doc).flatMap((d) => (d._tag === "Paragraph" ? [spanText(d.value)] : [])).filter((p) => !GENERIC.has(p) && !GENERATED.test(p))

const flatten = (doc: HelpDoc.HelpDoc): ReadonlyArray<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...flatten(doc.left), ...flatten(doc.right)] : doc._tag === "Empty" ? [] : [doc]

/** `(-t, --target text)...` → `-t, --target text...` */
const optionHead = (span: Span) => spanText(span).replace(/^\((.*)\)(\.\.\.)?$/, "$1$2")

const section = (title: string, body: ReadonlyArray<string>) => (body.length === 0 ? [] : ["", title, ...body])

/** One command's help: `makuo send --help`. */
export const commandHelp = (source: HelpSource, name: string, width: number): string => {
  const command = HashMap.unsafeGet(source.commands, name)
  const usage = Usage.enumerate(CommandDescriptor.getUsage(command), config).map(spanText)
  const parts = flatten(CommandDescriptor.getHelp(command, config))
  const lines: Array<string> = [
    `${source.program} ${name} — ${source.program} ${source.version}`,
    "",
    "USAGE",
    ...usage.flatMap((u) => wrap(`${source.program} ${u}`, 2, width, 4, true))
  ]
  let afterHeader = false
  for (const part of parts) {
    switch (part._tag) {
      case "Header":
        lines.push("", spanText(part.value))
        afterHeader = true
        break
      case "Paragraph":
        lines.push(...wrap(spanText(part.value), 2, width))
        break
      case "DescriptionList":
        part.definitions.forEach(([span, doc]) => {
          if (!afterHeader) lines.push("")
          afterHeader = false
          lines.push(`  ${optionHead(span)}`, ...optionParagraphs(doc).flatMap((p) => wrap(p, 6, width)))
        })
        break
      case "Enumeration":
      case "Sequence":
      case "Empty":
        break
      default:
        part satisfies never
    }
  }
  lines.push("", "  -h, --help", ...wrap("Show this help.", 6, width))
  return lines.join("\n")
}

/** The first sentence of a command's description: what the overview says of it. */
const summary = (command: CommandDescriptor.Command<unknown>) => {
  const first = flatten(CommandDescriptor.getHelp(command, config)).find((d) => d._tag === "Paragraph")
  const text = first === undefined ? "" : spanText((first as HelpDoc.Paragraph).value).split("\n")[0]!
  return /^.*?\.(?=\s|$)/.exec(text)?.[0] ?? text
}

/** `makuo --help`: what makuo is, its commands with one line each, the options every command has. */
export const overviewHelp = (source: HelpSource, width: number): string => {
  const { program } = source
  const column = Math.max(...source.order.map((n) => n.length)) + 4
  const commands = source.order.flatMap((name) => {
    const [first, ...rest] = wrap(summary(HashMap.unsafeGet(source.commands, name)), column, width)
    return [`  ${name.padEnd(column - 2)}${first!.slice(column)}`, ...rest]
  })
  const options: ReadonlyArray<readonly [string, string]> = [
    ["-h, --help", `Show this help; with a command, that command's (also: ${program} help COMMAND).`],
    ["--version", `Print ${program}'s version.`],
    ["--completions bash|zsh|fish|sh", `Print a completion script for the shell: source <(${program} --completions bash).`]
  ]
  return [
    `${program} ${source.version}`,
    "",
    "USAGE",
    `  ${program} COMMAND [OPTION]... [PATH]...`,
    `  ${program} help COMMAND`,
    ...section("DESCRIPTION", wrap(source.description, 2, width)),
    ...section("COMMANDS", commands),
    ...section("OPTIONS", options.flatMap(([head, text]) => [`  ${head}`, ...wrap(text, 6, width)])),
    "",
    ...wrap(`'${program} help COMMAND' or '${program} COMMAND --help' shows the options of a command.`, 0, width)
  ].join("\n")
}

/** The terminal's width, or 80 into a pipe or file. */
export const terminalWidth = (stream: { readonly isTTY?: boolean; readonly columns?: number }): number =>
  stream.isTTY === true && stream.columns !== undefined && stream.columns >= 40 ? stream.columns : 80

/**
 * Which help the arguments ask for, if any: `help [COMMAND]`, no arguments at all, or `-h`/`--help` among the
 * options (before `--`) of the command line. `undefined` as `command` is the overview.
 */
export const helpWanted = (
  commands: ReadonlySet<string>,
  args: ReadonlyArray<string>
): { readonly command: string | undefined } | { readonly unknown: string } | undefined => {
  if (args.length === 0) return { command: undefined }
  if (args[0] === "help") {
    const named = args[1]
    return named === undefined ? { command: undefined } : commands.has(named) ? { command: named } : { unknown: named }
  }
  const end = args.indexOf("--")
  const options = end < 0 ? args : args.slice(0, end)
  if (!options.some((a) => a === "-h" || a === "--help")) return undefined
  return { command: args.find((a) => commands.has(a)) }
}
