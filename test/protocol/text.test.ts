import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { decodeName, displayName, isWireName, utf8Bytes, utf8Length } from "../../src/protocol/text.js"

const noNul = fc.uint8Array({ maxLength: 64 }).map((b) => b.map((x) => (x === 0 ? 0x80 : x)))

describe("names as bytes", () => {
  it.prop("any bytes without NUL decode to a wire name that encodes back to the same bytes", [noNul], ([bytes]) => {
    const name = decodeName(bytes)!
    expect(isWireName(name)).toBe(true)
    expect(utf8Bytes(name)).toEqual(bytes)
    expect(utf8Length(name)).toBe(bytes.length)
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("valid UTF-8 decodes to its own text, escaping nothing", [fc.string({ unit: "binary", maxLength: 32 })], ([text]) => {
    const bytes = new TextEncoder().encode(text)
    if (bytes.includes(0)) return
    expect(decodeName(bytes)).toBe(text)
    expect(displayName(text)).toBe(text)
  })

  it("EUC-JP, Shift_JIS and Latin-1 names keep their bytes; overlongs and encoded surrogates are bytes, not text; NUL is refused", () => {
    const cases: Array<[string, Array<number>, string]> = [
      ["Latin-1 café", [0x63, 0x61, 0x66, 0xe9], "caf\\xE9"],
      ["EUC-JP 日本", [0xc6, 0xfc, 0xcb, 0xdc], "\\xC6\\xFC\\xCB\\xDC"],
      ["Shift_JIS 日本 + .txt", [0x93, 0xfa, 0x96, 0x7b, 0x2e, 0x74, 0x78, 0x74], "\\x93\\xFA\\x96{.txt"],
      ["overlong '/'", [0xc0, 0xaf], "\\xC0\\xAF"],
      ["encoded surrogate", [0xed, 0xa0, 0x80], "\\xED\\xA0\\x80"],
      ["UTF-8 then a stray byte", [0xe6, 0x97, 0xa5, 0xff], "日\\xFF"]
    ]
    for (const [what, raw, shown] of cases) {
      const bytes = Uint8Array.from(raw)
      const name = decodeName(bytes)!
      expect(utf8Bytes(name), what).toEqual(bytes)
      expect(displayName(name), what).toBe(shown)
    }
    expect(decodeName(Uint8Array.from([0x61, 0, 0x62]))).toBeUndefined()
    // a lone surrogate that is no escaped byte cannot go on the wire
    expect(isWireName("a\uD800b")).toBe(false)
    expect(isWireName("a\uDC10b")).toBe(false)
  })
})
