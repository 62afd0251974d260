/**
 * What the CLI prints is for people first: colours only on a terminal that wants them (`NO_COLOR`, `TERM=dumb`,
 * a pipe or a file get none — `makuo doctor | less` shows no escape codes).
 */
import { Console, Effect } from "effect"

export const colorAllowed = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb"

const ANSI = /\x1b\[[0-9;]*m/g

/** `text` as a person should see it, with or without colours. */
export const forPeople = (text: string, color: boolean): string => (color ? text : text.replace(ANSI, ""))

/** Runs `effect` with a Console that prints for people: on stdout and stderr, each as its own stream allows. */
export const withHumaneConsole = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.console, (console) => {
    const out = colorAllowed(process.stdout)
    const err = colorAllowed(process.stderr)
    const clean = (color: boolean) => (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? forPeople(a, color) : a))
    const humane: Console.Console = {
      ...console,
      log: (...args) => console.log(...clean(out)(args)),
      error: (...args) => console.error(...clean(err)(args))
    }
    return Effect.withConsole(effect, humane)
  })
