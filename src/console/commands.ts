/**
 * A console line as makuosan reads it (makuosan-v7.md §8.2, §8.3): words split on spaces (a word ending in `\` is joined to
 * the next with a space, so `sp\ ace.txt` is one path), options parsed like getopt (clustered `-rn`, `-t HOST` or
 * `-tHOST`, options before or after the path), and of several paths the last one counts.
 */
import { Data } from "effect"
import type { Operation } from "../domain/operation.js"


export type ConsoleCommand = Data.TaggedEnum<{
  Empty: {}
  Quit: {}
  Help: {}
  Members: {}
  Status: {}
  Transfer: {
    readonly operation: Operation
    readonly recursive: boolean
    readonly dryRun: boolean
    readonly targets: ReadonlyArray<string>
    readonly path: string | undefined
  }
  Echo: { readonly words: ReadonlyArray<string> }
  LogLevel: { readonly level: number }
  ExcludeAdd: { readonly pattern: string }
  ExcludeDel: { readonly pattern: string }
  ExcludeList: {}
  ExcludeClear: {}
  Alive: { readonly on: boolean | undefined }
  /** A command used wrongly: these lines explain how to use it. */
  Usage: { readonly lines: ReadonlyArray<string> }
  Unknown: { readonly word: string }
}>
export const ConsoleCommand = Data.taggedEnum<ConsoleCommand>()

export const tokenize = (line: string): ReadonlyArray<string> => {
  const words: Array<string> = []
  let joining = false
  for (const word of line.split(" ")) {
    if (word === "" && !joining) continue
    if (joining) words[words.length - 1] = `${words[words.length - 1]!.slice(0, -1)} ${word}`
    else words.push(word)
    joining = words[words.length - 1]!.endsWith("\\")
  }
  return words
}

export const usageLine: Record<Operation, string> = {
  send: "send  [-r] [-t host] [-n] [path]",
  sync: "sync  [-r] [-t host] [-n] [path]",
  dsync: "dsync [-r] [-t host] [-n] [path]",
  check: "check [-r] [-t host] [path]"
}

const excludeUsage = ["usage: exclude add PATTERN", "       exclude del PATTERN", "       exclude list", "       exclude clear"]

const usage = (operation: Operation, problem?: string) =>
  ConsoleCommand.Usage({ lines: [...(problem === undefined ? [] : [problem]), `usage: ${usageLine[operation]}`] })

const transfer = (operation: Operation, args: ReadonlyArray<string>): ConsoleCommand => {
  let recursive = false
  let dryRun = false
  const targets: Array<string> = []
  let path: string | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--") {
      path = args.length > i + 1 ? args.at(-1) : path
      break
    }
    if (!arg.startsWith("-") || arg === "-") {
      path = arg
      continue
    }
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j]!
      if (flag === "r") recursive = true
      else if (flag === "n") dryRun = true
      else if (flag === "t" || flag === "g") {
        const value = j + 1 < arg.length ? arg.slice(j + 1) : args[++i]
        if (value === undefined) return usage(operation, `option requires an argument -- ${flag}`)
        if (flag === "g") return usage(operation, `-g ${value}: makuo does not change groups on the members (owner and group are sent as they are)`)
        targets.push(value)
        break
      } else return usage(operation, `invalid option -- ${flag}`)
    }
  }
  // makuosan: without -r a path is required (so `dsync` alone only explains itself, makuosan-v7.md E27)
  if (path === undefined && !recursive) return usage(operation)
  return ConsoleCommand.Transfer({ operation, recursive, dryRun: dryRun && operation !== "check", targets, path })
}

const exclude = (args: ReadonlyArray<string>): ConsoleCommand => {
  const [action, pattern, ...rest] = args
  if (rest.length > 0) return ConsoleCommand.Usage({ lines: excludeUsage })
  if (action === "add" && pattern !== undefined) return ConsoleCommand.ExcludeAdd({ pattern })
  if (action === "del" && pattern !== undefined) return ConsoleCommand.ExcludeDel({ pattern })
  if (action === "list" && pattern === undefined) return ConsoleCommand.ExcludeList()
  if (action === "clear" && pattern === undefined) return ConsoleCommand.ExcludeClear()
  return ConsoleCommand.Usage({ lines: excludeUsage })
}

export const parseCommand = (line: string): ConsoleCommand => {
  const [word, ...args] = tokenize(line)
  switch (word) {
    case undefined:
      return ConsoleCommand.Empty()
    case "quit":
    case "exit":
    case "bye":
      return ConsoleCommand.Quit()
    case "help":
      return ConsoleCommand.Help()
    case "members":
      return ConsoleCommand.Members()
    case "status":
      return ConsoleCommand.Status()
    case "send":
    case "sync":
    case "dsync":
    case "check":
      return transfer(word, args)
    case "md5":
      return transfer("check", args)
    case "echo":
      return ConsoleCommand.Echo({ words: args })
    case "loglevel":
      // makuosan: atoi, no validation
      return ConsoleCommand.LogLevel({ level: Number.parseInt(args[0] ?? "0", 10) || 0 })
    case "exclude":
      return exclude(args)
    case "alive":
      return ConsoleCommand.Alive({ on: args[0] === "on" ? true : args[0] === "off" ? false : undefined })
    default:
      return ConsoleCommand.Unknown({ word })
  }
}
