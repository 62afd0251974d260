import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { VERSION, WIRE_VERSION } from "../src/version.js"
import { MAX_VERSION } from "../src/protocol/fields.js"

describe("version", () => {
  it("matches package.json and fits makuosan's version field", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string }
    expect(VERSION).toBe(pkg.version)
    expect(Buffer.byteLength(WIRE_VERSION)).toBeLessThanOrEqual(MAX_VERSION)
  })
})
