/**
 * What the CLI prints is for people first: colours only on a terminal that wants them (`NO_COLOR`, `TERM=dumb`,
 * a pipe or a file get none — `makuo send --help | less` shows no escape codes), and help without @effect/cli's
 * generic sentences ("A user-defined piece of text.") that would stand before each option's own description.
 */
import { Console, Effect } from "effect"

export const colorAllowed = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb"

const ANSI = /\x1b\[[0-9;]*m/g

// the type sentences @effect/cli puts first in every argument's and option's help paragraph; "One of the
// following: ..." stays, it names the choices
const GENERIC = new RegExp(
  "^ {2}(?:" + [
    "A user-defined piece of text\\.",
    "A user-defined piece of text that is confidential\\.",
    "A true or false value\\.",
    "A floating point number\\.",
    "An integer\\.",
    "An existing file or directory\\.",
    "An existing file\\.",
    "An existing directory\\.",
    "A file or directory\\.",
    "A file\\.",
    "A directory\\."
  ].join("|") + ")\\n\\n",
  "gm"
)

/** `text` as a person should see it, with or without colours. */
export const forPeople = (text: string, color: boolean): string => {
  const plain = text.replace(ANSI, "")
  const trimmed = plain.replace(GENERIC, "")
  // only help carries the generic sentences, and only as whole paragraphs: keep the colours where nothing went
  return color && trimmed === plain ? text : trimmed
}

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
