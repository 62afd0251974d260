/**
 * A daemon killed mid-switch left a journal: the next start finishes the switch before the stale temp sweep,
 * which would otherwise remove the temps the journal renames (they are older than the new process).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { eventually, freePort, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import type { Intent } from "../../src/store/journal.js"

describe("journal roll-forward at daemon start", () => {
  it.scopedLive("a switch cut off after its journal is finished before the stale temp sweep, and said so", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const base = join(dir, "h1", "base")
      const journal = join(dir, "journal")
      fs.mkdirSync(join(base, "n.makuo000000042"), { recursive: true })
      fs.mkdirSync(journal)
      fs.writeFileSync(join(base, "f"), "old")
      fs.writeFileSync(join(base, "f.makuo000000041"), "new")
      fs.writeFileSync(join(base, "n.makuo000000042", "g"), "in the new directory")
      fs.writeFileSync(join(base, "left.makuo000000043"), "a temp no journal names: the sweep's")
      const intent: Intent = {
        txn: 12,
        base: fs.realpathSync(base),
        ops: [
          { op: "rename", path: "f", temp: "f.makuo000000041" },
          { op: "rename", path: "n", temp: "n.makuo000000042" },
          { op: "meta", path: "n", directory: true, mode: 0o750, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, sec: 1_600_000_000, nsec: 0 }
        ]
      }
      fs.writeFileSync(join(journal, "txn-1-1-0.journal"), JSON.stringify(intent))
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, ["--journal-dir", journal])
      expect(yield* eventually(Effect.sync(() => d.log().includes("stale temp files:")), "15 seconds"), d.log()).toBe(true)
      expect(d.log()).toMatch(/rolled forward transaction 12 from .*: 2 renames, 0 removals, 1 metadata/)
      expect(fs.readdirSync(base).sort()).toEqual(["f", "n"])
      expect(fs.readFileSync(join(base, "f"), "utf8")).toBe("new")
      expect(fs.readFileSync(join(base, "n", "g"), "utf8")).toBe("in the new directory")
      expect(fs.statSync(join(base, "n")).mode & 0o7777).toBe(0o750)
      expect(fs.readdirSync(journal)).toEqual([])
    }))

  it.scopedLive("a journal directory inside the base is refused at start, naming the setting, through a symlink too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.mkdirSync(join(dir, "h1", "base"), { recursive: true })
      fs.symlinkSync(join(dir, "h1", "base"), join(dir, "link"))
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, ["--journal-dir", join(dir, "link", "j")])
      const code = yield* Effect.async<number | null>((resume) => {
        if (d.process.exitCode !== null) return resume(Effect.succeed(d.process.exitCode))
        d.process.once("exit", (c) => resume(Effect.succeed(c)))
      })
      expect(code).toBe(2)
      expect(d.log()).toContain("--journal-dir")
      expect(d.log()).toContain("inside the base")
    }))
})
