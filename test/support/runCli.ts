/** Runs the CLI's `main` in process, as the binary does, with its output captured: the exit code and both streams. */
import { Effect } from "effect"
import { main } from "../../src/cli/main.js"

export const runCli = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const err: Array<string> = []
    const console = yield* Effect.console
    const code = yield* Effect.withConsole(main(["node", "makuo", ...args]), {
      ...console,
      log: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(a.join(" "))),
      error: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(a.join(" ")))
    })
    return { code, out: out.join("\n"), err: err.join("\n") }
  })
