/**
 * `makuo daemon`'s command line read without @effect/cli, so that a daemon does not load it, nor the client commands
 * with it: a daemon then holds ~2 MiB less for as long as it runs. Only the plainest command line is read here —
 * every option of the settings' table or the command's own, as `--name VALUE`, `--name=VALUE` or `--flag`, each
 * once, with a value @effect/cli takes as it is. Anything else (help, a built-in or short or unknown option, a value
 * @effect/cli refuses or might read otherwise) is left to the CLI, which reads it, refuses it or prints the help as
 * it always did: the same options, checks and messages either way.
 */
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import { commandRows, type DaemonFlags, runDaemon } from "./daemonCommand.js"
import { type Row, settingRows } from "./daemonSettings.js"
import { exitCode, runToExit } from "./exit.js"
import { withHumaneConsole } from "./humaneConsole.js"

const rows = [...settingRows, ...commandRows]

/** A regular file at `path`; any doubt (a loop, a name too long, no access) leaves the command line to the CLI. */
const isFile = (path: string): boolean => {
  try {
    return fs.statSync(path, { throwIfNoEntry: false })?.isFile() === true
  } catch {
    return false
  }
}

/** `text` as the value of an option that takes one, as @effect/cli gives it; undefined where it might not take it as it is. */
const valueOf = (row: Row, text: string): string | number | undefined => {
  // `--port -1`, `--name --base`: @effect/cli's and readArgv's (argv.ts) own refusals
  if (text === "" || text.startsWith("-")) return undefined
  switch (row.kind._tag) {
    case "text":
      return text
    case "file":
      return isFile(text) ? text : undefined
    case "integer":
      return /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined
    case "choice":
      return row.kind.choices.includes(text) ? text : undefined
    case "boolean":
      return undefined
    default:
      return row.kind satisfies never
  }
}

/** The options of `makuo daemon ARGS` as @effect/cli would give them, or undefined: the CLI is to read them. */
export const readDaemonArgv = (args: ReadonlyArray<string>): DaemonFlags | undefined => {
  const given = new Map<string, string | number | true>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith("--")) return undefined
    const eq = arg.indexOf("=")
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
    const row = rows.find((r) => r.name === name)
    if (row === undefined || given.has(row.key)) return undefined
    if (row.kind._tag === "boolean") {
      if (eq >= 0) return undefined
      given.set(row.key, true)
      continue
    }
    const text = eq < 0 ? args[++i] : arg.slice(eq + 1)
    const value = text === undefined ? undefined : valueOf(row, text)
    if (value === undefined) return undefined
    given.set(row.key, value)
  }
  return Object.fromEntries(rows.map((row) => [
    row.key,
    row.kind._tag === "boolean" ? given.has(row.key) : Option.fromNullable(given.get(row.key))
  ])) as unknown as DaemonFlags
}

/** Runs `makuo daemon ARGS` when its options are read here (true), as main.ts would run it. */
export const startDaemon = (args: ReadonlyArray<string>): boolean => {
  const flags = readDaemonArgv(args)
  if (flags === undefined) return false
  runToExit(exitCode(withHumaneConsole(Effect.as(runDaemon(flags), 0))))
  return true
}
