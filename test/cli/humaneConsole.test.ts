import { describe, expect, it } from "@effect/vitest"
import { colorAllowed, forPeople } from "../../src/cli/humaneConsole.js"

const help = "\x1b[0;1mOPTIONS\x1b[0m\n\n\x1b[0;1m--rate\x1b[0m\n\n  A floating point number.\n\n  Cap the data rate, in Mbit/s.\n\n  One of the following: debug, info\n\n"

describe("output for people", () => {
  it("colours only on a terminal, and not with NO_COLOR or TERM=dumb", () => {
    expect(colorAllowed({ isTTY: true }, {})).toBe(true)
    expect(colorAllowed({ isTTY: false }, {})).toBe(false)
    expect(colorAllowed({}, {})).toBe(false)
    expect(colorAllowed({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    expect(colorAllowed({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
    expect(colorAllowed({ isTTY: true }, { TERM: "dumb" })).toBe(false)
  })

  it("help loses its escape codes and the parser's generic sentences; the option's own words and the choices stay", () => {
    expect(forPeople(help, false)).toBe("OPTIONS\n\n--rate\n\n  Cap the data rate, in Mbit/s.\n\n  One of the following: debug, info\n\n")
  })

  it("other text keeps its colours on a terminal and loses them elsewhere; text without escapes is untouched", () => {
    expect(forPeople("\x1b[31mfailed\x1b[0m h2:a", true)).toBe("\x1b[31mfailed\x1b[0m h2:a")
    expect(forPeople("\x1b[31mfailed\x1b[0m h2:a", false)).toBe("failed h2:a")
    expect(forPeople("update   h2:  A true or false value.", false)).toBe("update   h2:  A true or false value.")
  })
})
