import { describe, expect, it } from "@effect/vitest"
import { colorAllowed, forPeople } from "../../src/cli/humaneConsole.js"

describe("output for people", () => {
  it("colours only on a terminal, and not with NO_COLOR or TERM=dumb", () => {
    expect(colorAllowed({ isTTY: true }, {})).toBe(true)
    expect(colorAllowed({ isTTY: false }, {})).toBe(false)
    expect(colorAllowed({}, {})).toBe(false)
    expect(colorAllowed({ isTTY: true }, { NO_COLOR: "1" })).toBe(false)
    expect(colorAllowed({ isTTY: true }, { NO_COLOR: "" })).toBe(true)
    expect(colorAllowed({ isTTY: true }, { TERM: "dumb" })).toBe(false)
  })

  it("other text keeps its colours on a terminal and loses them elsewhere; text without escapes is untouched", () => {
    expect(forPeople("\x1b[31mfailed\x1b[0m h2:a", true)).toBe("\x1b[31mfailed\x1b[0m h2:a")
    expect(forPeople("\x1b[31mfailed\x1b[0m h2:a", false)).toBe("failed h2:a")
    expect(forPeople("update   h2:  A true or false value.", false)).toBe("update   h2:  A true or false value.")
  })
})
