/** `npm run bench`'s command line: what it asks for, help, or why it is refused. */
import { resolve } from "node:path"

/** Flags that take a comma-separated list. */
const LISTS = ["k", "loss", "scenario", "workload", "parallel"] as const
export type ListFlag = (typeof LISTS)[number]

export interface BenchOptions {
  readonly quick: boolean
  /** `--key`: every row set in protocol v7 and in native mode. */
  readonly key: boolean
  /** The values of each list flag given (`--k 1,4` → ["1", "4"]); absent when not given. */
  readonly lists: Partial<Record<ListFlag, ReadonlyArray<string>>>
  /** `--profile DIR`, made absolute: every daemon writes a CPU profile under DIR/<row set>/<host>. */
  readonly profile: string | undefined
}

export type BenchArgs =
  | { readonly _tag: "Help" }
  | { readonly _tag: "Invalid"; readonly message: string }
  | ({ readonly _tag: "Run" } & BenchOptions)

export const benchUsage = "usage: npm run bench -- [--quick] [--key] [--k 1,2,4,8] [--loss 0,1] [--scenario cpu,link]\n" +
  "                        [--workload big,small,unchanged,huge] [--parallel N] [--profile DIR]\n" +
  "As root: the namespace lab; otherwise loopback. What each row measures: the comment at the top of scripts/bench.ts.\n" +
  "--profile DIR: every daemon runs under node --cpu-prof, its profile written to DIR/<row set>/<host> (h1 the sender)\n" +
  "when the row set ends; summarise one with: node dist/scripts/profileTop.js FILE|DIR"

/** `args`: the arguments after the script's name. `cwd` makes `--profile`'s directory absolute. */
export const parseBenchArgs = (args: ReadonlyArray<string>, cwd: string): BenchArgs => {
  const lists: Partial<Record<ListFlag, ReadonlyArray<string>>> = {}
  let quick = false
  let key = false
  let profile: string | undefined
  // an unknown flag must stop the run, not start a full bench of every row (tens of minutes) that ignores it
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--help" || a === "-h") return { _tag: "Help" }
    if (a === "--quick") quick = true
    else if (a === "--key") key = true
    else if (a === "--profile" || LISTS.some((l) => a === `--${l}`)) {
      const value = args[++i]
      if (value === undefined || value === "" || value.startsWith("--")) return { _tag: "Invalid", message: `${a} needs a value` }
      if (a === "--profile") profile = resolve(cwd, value)
      else lists[a.slice(2) as ListFlag] = value.split(",").filter((x) => x !== "")
    } else return { _tag: "Invalid", message: `unknown argument ${a}` }
  }
  return { _tag: "Run", quick, key, lists, profile }
}
