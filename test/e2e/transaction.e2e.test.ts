/**
 * A send in native mode is one tree transaction (docs/transactions.md), between real keyed daemons on loopback:
 * every member stages the job, votes, and switches at one COMMIT. A member that cannot take an entry keeps its
 * old tree whole while the others switch; with --all-or-nothing no member changes anything.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { type Daemon, eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { formatKeyLine } from "../../src/secure/keyFile.js"
import { generateKey } from "../../src/secure/keys.js"
import { describeTree, differences, tempFiles } from "../support/trees.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

interface Event {
  readonly event: string
  readonly path?: string
  readonly host?: string
  readonly outcome?: string
  readonly failed?: number
  readonly updated?: number
}
const eventsOf = (stdout: string): ReadonlyArray<Event> => stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Event)

/** Three keyed daemons that list each other. */
const keyedCluster = Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(loopback)
  const keyFile = join(dir, "cluster.key")
  fs.writeFileSync(keyFile, formatKeyLine(generateKey()) + "\n", { mode: 0o600 })
  const daemons = yield* Effect.forEach([1, 2, 3], (i) =>
    startDaemon(dir, i, port, ["--key-file", keyFile, "--member-timeout", "20s", "--journal-dir", join(dir, `journal${i}`)]))
  const all = Effect.map(Effect.forEach(daemons, memberNames), (ls) => ls.every((l) => l.length === 2))
  expect(yield* eventually(all, "5 seconds"), daemons[0]!.log()).toBe(true)
  return daemons as unknown as readonly [Daemon, Daemon, Daemon]
})

/** A release: nested new directories, small files, one file of several MiB, a symlink. */
const writeRelease = (base: string, version: string) => {
  fs.mkdirSync(join(base, "app/lib/deep"), { recursive: true })
  for (let i = 0; i < 150; i++) fs.writeFileSync(join(base, "app/lib", `m${i}.js`), `// ${version} ${i}\n`.repeat(1 + (i % 40)))
  fs.writeFileSync(join(base, "app/lib/deep/data.bin"), Buffer.alloc(3 << 20, version.charCodeAt(0)))
  fs.writeFileSync(join(base, "app/index.html"), `<p>${version}</p>\n`)
  fs.rmSync(join(base, "app/current"), { force: true })
  fs.symlinkSync(`lib/m1.js`, join(base, "app/current"))
}

describe("a send in native mode is one transaction", () => {
  it.scopedLive("send -r: every member holds the new tree, nothing else; a member that cannot take an entry keeps its old tree whole; --all-or-nothing changes nobody", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* keyedCluster
      writeRelease(h1.base, "one")
      const first = yield* makuo(["send", "-r", "--json", "app", "--control", h1.control], 60_000)
      expect(first.code, first.stdout.slice(-2000) + first.stderr).toBe(0)
      for (const h of [h2, h3]) {
        const there = describeTree(join(h.base, "app"))
        expect(differences(describeTree(join(h1.base, "app")), there)).toEqual([])
        expect(tempFiles(there)).toEqual([])
      }
      const summary = eventsOf(first.stdout).find((e) => e.event === "summary")
      expect(summary).toMatchObject({ failed: 0 })
      expect(h2.log()).toMatch(/transaction/)

      // h3 cannot take app/lib/m7.js: its parent there became a symlink (a path through a symlink is refused)
      writeRelease(h1.base, "two")
      const h3Before = describeTree(join(h3.base, "app"))
      fs.renameSync(join(h3.base, "app/lib"), join(h3.base, "app/lib.real"))
      fs.symlinkSync("lib.real", join(h3.base, "app/lib"))
      const h3Aside = describeTree(join(h3.base, "app"))

      const all = yield* makuo(["send", "-r", "--json", "--all-or-nothing", "app", "--control", h1.control], 60_000)
      expect(all.code, all.stdout.slice(-2000)).toBe(1)
      expect(differences(describeTree(join(h3.base, "app")), h3Aside)).toEqual([])
      // h2 voted PREPARED, yet nothing changed there: h3's failure aborted the transaction everywhere
      expect(differences(h3Before, describeTree(join(h2.base, "app")))).toEqual([])
      expect(eventsOf(all.stdout).some((e) => e.event === "outcome" && e.host === "h3" && e.outcome === "failed")).toBe(true)

      const some = yield* makuo(["send", "-r", "--json", "app", "--control", h1.control], 60_000)
      expect(some.code, some.stdout.slice(-2000)).toBe(1)
      expect(differences(describeTree(join(h1.base, "app")), describeTree(join(h2.base, "app")))).toEqual([])
      expect(differences(describeTree(join(h3.base, "app")), h3Aside)).toEqual([])
      expect(tempFiles(describeTree(join(h3.base, "app")))).toEqual([])
    }), 120_000)
})
