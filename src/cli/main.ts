/** `makuo`: one command with subcommands; the exit codes are exit.ts's. */
import { Command, CommandDescriptor, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Effect } from "effect"
import { VERSION } from "../version.js"
import { grammarOf, readArgv } from "./argv.js"
import { bashCompletions } from "./completions.js"
import { UsageError } from "./errors.js"
import { exitCode, runToExit } from "./exit.js"
import { commandHelp, helpWanted, type HelpSource, overviewHelp, terminalWidth } from "./help.js"
import { withHumaneConsole } from "./humaneConsole.js"
import { membersCommand, statusCommand } from "./clientCommands.js"
import { daemonCommand } from "./daemonCli.js"
import { doctorCommand } from "./doctorCommand.js"
import { keygenCommand } from "./keygenCommand.js"
import { checkCommand, sendCommand, syncCommand } from "./sendCommand.js"

const description = "makuo pushes files from one server to every other server of a cluster at once, over UDP multicast. " +
      "Run 'makuo daemon --base DIR' on every server; the daemons find each other. " +
      "Wire-compatible with makuosan 1.3.6.\n\n" +
      "Examples:\n" +
      "  makuo daemon --base /var/www      start the daemon of this server\n" +
      "  makuo send -r                     push the whole base dir to every member\n" +
      "  makuo send -n -r htdocs           what would change where, changing nothing\n" +
      "  makuo check -r                    compare every file's MD5 on every member\n" +
      "  makuo members                     list the other live daemons\n" +
      "  makuo status                      this daemon's state and counters\n" +
      "  makuo doctor                      what could keep the cluster from working, and what to do"

const subcommands = [daemonCommand, sendCommand, syncCommand, checkCommand, membersCommand, statusCommand, doctorCommand, keygenCommand] as const

const root = Command.make("makuo").pipe(Command.withDescription(description), Command.withSubcommands(subcommands))

const cli = Command.run(root, { name: "makuo", version: VERSION })

export const grammar = grammarOf(root)

const helpSource: HelpSource = {
  program: grammar.program,
  version: VERSION,
  description,
  commands: Command.getSubcommands(root),
  order: subcommands.flatMap((c) => [...CommandDescriptor.getNames(c.descriptor as CommandDescriptor.Command<unknown>)])
}

/** What @effect/cli prints of a command line it refuses (`Path '/x' must exist`) says whose message it is, on one line. */
const prefixed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.console, (console) =>
    Effect.withConsole(effect, {
      ...console,
      error: (...args) => console.error(`makuo: ${args.map(String).join(" ").trim().replace(/\s*\n\s*/g, " ")}`)
    }))

/** @effect/cli's zsh and fish scripts, without the --wizard makuo does not accept (one line each in both). */
const withoutWizard = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.console, (console) =>
    Effect.withConsole(effect, {
      ...console,
      log: (...args) => console.log(...args.map((a) => (typeof a === "string" ? a.split("\n").filter((l) => !/'--wizard\[| -l wizard /.test(l)).join("\n") : a)))
    }))

/** The help the arguments ask for, printed; or the arguments read for @effect/cli (`readArgv`) and run. */
const dispatch = (argv: ReadonlyArray<string>) => {
  const args = argv.slice(2)
  const wanted = helpWanted(new Set(grammar.commands.keys()), args)
  if (wanted === undefined) {
    return Effect.flatMap(readArgv(grammar, args), (args) => {
      const shell = args[0] === "--completions" ? args[1] : args[0]?.startsWith("--completions=") ? args[0].slice(14) : undefined
      if (shell === "bash" || shell === "sh") return Console.log(bashCompletions(grammar))
      const run = prefixed(cli([...argv.slice(0, 2), ...args]))
      return shell === undefined ? run : withoutWizard(run)
    })
  }
  if ("unknown" in wanted) return Effect.fail(new UsageError({ detail: `help: no command '${wanted.unknown}' (the commands: ${helpSource.order.join(", ")})` }))
  const width = terminalWidth(process.stdout)
  return Console.log(wanted.command === undefined ? overviewHelp(helpSource, width) : commandHelp(helpSource, wanted.command, width))
}

/** `argv` as `process.argv` holds it: runtime, script, then the arguments, which are read first (`readArgv`). */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  withHumaneConsole(dispatch(argv)).pipe(
    Effect.as(0),
    Effect.catchIf(ValidationError.isValidationError, () => Effect.succeed(2)),
    exitCode,
    Effect.provide(NodeContext.layer)
  )

export const run = () => runToExit(main(process.argv))
