import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { journalLogger, stderrIsJournal } from "../../src/daemon/journalLogger.js"

const captured = (effect: Effect.Effect<void>) => {
  const lines: Array<string> = []
  const capture = Layer.merge(Logger.replace(Logger.defaultLogger, Logger.map(journalLogger, (line) => void lines.push(line))), Logger.minimumLogLevel(LogLevel.All))
  return Effect.as(Effect.provide(effect, capture), lines)
}

describe("journal log lines", () => {
  it.effect("carry the syslog priority, the message and the annotations; no timestamp, no fiber id", () =>
    Effect.gen(function*() {
      const lines = yield* captured(Effect.gen(function*() {
        yield* Effect.logInfo("received htdocs/index.html").pipe(Effect.annotateLogs({ from: "web1", bytes: 2048 }))
        yield* Effect.logWarning("refused path", "a b")
        yield* Effect.logError("write failed")
        yield* Effect.logDebug("datagram dropped")
      }))
      expect(lines).toEqual([
        "<6>received htdocs/index.html from=web1 bytes=2048",
        "<4>refused path a b",
        "<3>write failed",
        "<7>datagram dropped"
      ])
    }))

  it.effect("a cause stays on its line", () =>
    Effect.gen(function*() {
      const lines = yield* captured(Effect.logError("boom", new Error("x")).pipe(Effect.zipRight(Effect.logError(Effect.fail("y")))))
      for (const line of lines) expect(line).not.toContain("\n")
    }))

  it("stderr is the journal only when JOURNAL_STREAM names its device and inode", () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "makuo-journal-"))
    const fd = fs.openSync(join(dir, "stream"), "w")
    try {
      const st = fs.fstatSync(fd, { bigint: true })
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true)
      expect(stderrIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd)).toBe(false)
      expect(stderrIsJournal({}, fd)).toBe(false)
    } finally {
      fs.closeSync(fd)
      fs.rmSync(dir, { recursive: true })
    }
  })
})
