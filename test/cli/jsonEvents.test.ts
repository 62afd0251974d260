import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, Schema } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { JsonEvent, jsonLine, OutcomeEvent, pathFields, SourceErrorEvent, SummaryEvent } from "../../src/cli/jsonEvents.js"
import { decodeName } from "../../src/protocol/text.js"

const readme = fs.readFileSync(join(import.meta.dirname, "..", "..", "docs", "commands.md"), "utf8")

/** docs/commands.md's `--json` table: event name → the fields it documents (values in parentheses left out). */
const documented = (): Map<string, Array<string>> => {
  const section = readme.slice(readme.indexOf("`--json` events, one per line"))
  const rows = section.slice(0, section.indexOf("\n\n", section.indexOf("| `event` |"))).split("\n").filter((l) => /^\| `[a-z-]+` \|/.test(l))
  return new Map(rows.filter((row) => !row.startsWith("| `event` |")).map((row) => {
    const [, name, fields] = /^\| `([a-z-]+)` \| (.*) \|$/.exec(row)!
    let flat = fields!
    while (/\([^()]*\)/.test(flat)) flat = flat.replace(/\([^()]*\)/g, "")
    return [name!, [...flat.split(":")[0]!.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]!)]
  }))
}

const fieldsOf = (schema: { readonly fields: Schema.Struct.Fields }) => Object.keys(schema.fields).filter((k) => k !== "v" && k !== "event")

describe("--json events", () => {
  it("docs/commands.md documents exactly the fields each event has", () => {
    const docs = documented()
    expect([...docs.keys()]).toEqual(["outcome", "source-error", "summary"])
    expect(docs.get("outcome")).toEqual(fieldsOf(OutcomeEvent))
    expect(docs.get("source-error")).toEqual(fieldsOf(SourceErrorEvent))
    expect(docs.get("summary")).toEqual(fieldsOf(SummaryEvent))
    expect(readme).toContain("`v` (the format's version, 1:")
  })

  // counts and times are finite numbers: JSON has no NaN, no infinity, no -0
  const jsonable = Arbitrary.make(JsonEvent).filter((e) => Object.values(e).every((x) => typeof x !== "number" || (Number.isFinite(x) && !Object.is(x, -0))))
  it.prop("every line decodes back to its event with the same schema", [jsonable], ([event]) => {
    const line = jsonLine(event)
    expect(Either.getOrThrow(Schema.decodeUnknownEither(JsonEvent)(JSON.parse(line)))).toEqual(event)
  })

  it("a path that is not UTF-8 carries its exact bytes in pathBytes; a UTF-8 one does not", () => {
    const latin1 = decodeName(Uint8Array.from([0x63, 0x61, 0x66, 0xe9]))!
    expect(JSON.parse(jsonLine({ v: 1, event: "source-error", ...pathFields(latin1), message: "x" }))).toEqual({
      v: 1, event: "source-error", path: "caf\udce9", pathBytes: Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString("base64"), message: "x"
    })
    expect(pathFields("café")).toEqual({ path: "café" })
  })

  it("a line that does not fit its schema is never written", () => {
    expect(() => jsonLine({ v: 1, event: "source-error", path: "a", message: 3 } as never)).toThrow()
  })
})
