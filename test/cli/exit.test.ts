/**
 * A command's exit code (`exitCode`): its own value, a named failure's code with one line naming the fault, and
 * anything else 1 with the cause on stderr — never a silent 0 for a command that did not finish, including one
 * interrupted from within (a signal ends the program in `runToExit`'s teardown, 130 for a client, not here).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { UsageError } from "../../src/cli/errors.js"
import { exitCode } from "../../src/cli/exit.js"

const run = (effect: Effect.Effect<number, unknown>) =>
  Effect.gen(function*() {
    const err: Array<string> = []
    const console = yield* Effect.console
    const code = yield* Effect.withConsole(exitCode(effect), {
      ...console,
      error: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(a.join(" ")))
    })
    return { code, err }
  })

describe("a command's exit code", () => {
  it.effect("its own, with nothing said", () =>
    Effect.gen(function*() {
      expect(yield* run(Effect.succeed(3))).toEqual({ code: 3, err: [] })
    }))

  it.effect("2 for a usage error, its one line naming the fault", () =>
    Effect.gen(function*() {
      expect(yield* run(Effect.fail(new UsageError({ detail: "--bogus: no such option" })))).toEqual({ code: 2, err: ["makuo: --bogus: no such option"] })
    }))

  it.effect("1 for a defect, with its cause", () =>
    Effect.gen(function*() {
      const { code, err } = yield* run(Effect.die(new Error("the unexpected")))
      expect(code).toBe(1)
      expect(err.join("\n")).toContain("the unexpected")
    }))

  it.effect("1 and a line, not a silent 0, for an interruption from within", () =>
    Effect.gen(function*() {
      const { code, err } = yield* run(Effect.interrupt)
      expect(code).toBe(1)
      expect(err).toHaveLength(1)
      expect(err[0]).toMatch(/^makuo: stopped before it finished: interrupted from within/)
    }))
})
