/**
 * A send in native mode is one tree transaction (docs/transactions.md), between real keyed daemons on loopback:
 * every member stages the job, votes, and switches at one COMMIT. A member that cannot take an entry keeps its
 * old tree whole while the others switch; with --all-or-nothing no member changes anything.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
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
  readonly detail?: string
  readonly failed?: number
  readonly updated?: number
}
const eventsOf = (stdout: string): ReadonlyArray<Event> => stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Event)

/** Three keyed daemons that list each other, daemon `i` started with `extra(i)` besides. */
const keyedClusterWith = (extra: (i: number) => ReadonlyArray<string>) => Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(loopback)
  const keyFile = join(dir, "cluster.key")
  fs.writeFileSync(keyFile, formatKeyLine(generateKey()) + "\n", { mode: 0o600 })
  const start = (i: number) =>
    startDaemon(dir, i, port, ["--key-file", keyFile, "--member-timeout", "20s", "--journal-dir", join(dir, `journal${i}`), ...extra(i)])
  const daemons = yield* Effect.forEach([1, 2, 3], start)
  const all = Effect.map(Effect.forEach(daemons, memberNames), (ls) => ls.every((l) => l.length === 2))
  expect(yield* eventually(all, "5 seconds"), daemons[0]!.log()).toBe(true)
  return { daemons: daemons as unknown as readonly [Daemon, Daemon, Daemon], start }
})
const keyedCluster = keyedClusterWith(() => [])

/** The phases of the transactions `d` is a member of (`status`). */
const phases = (d: Daemon) =>
  Effect.map(makuo(["status", "--json", "--control", d.control]), (r) =>
    r.code !== 0 ? [] : (JSON.parse(r.stdout) as { incoming: ReadonlyArray<{ path: string; phase?: string }> }).incoming
      .filter((i) => i.path.startsWith("transaction ")).map((i) => i.phase))

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
      const [h1, h2, h3] = (yield* keyedCluster).daemons
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

  it.scopedLive("check -r, send -n and send --checksum are transactions too; a new directory, a new symlink and a mode alone are reported updated", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = (yield* keyedCluster).daemons
      const run = (args: ReadonlyArray<string>) => makuo([...args, "--control", h1.control], 60_000)
      const outcomes = (stdout: string) =>
        eventsOf(stdout).filter((e) => e.event === "outcome").map((e) => `${e.host} ${e.path} ${e.outcome}`).sort()
      writeRelease(h1.base, "one")
      // a whole-second mtime on all three, so that a copy changed in place below keeps size and mtime alike
      const T = 1_700_000_000
      fs.utimesSync(join(h1.base, "app/index.html"), T, T)
      const first = yield* run(["send", "-r", "app"])
      expect(first.code, first.stdout.slice(-2000) + first.stderr).toBe(0)

      const clean = yield* run(["check", "-r", "--json", "app"])
      expect(clean.code, clean.stdout.slice(-2000) + clean.stderr).toBe(0)
      expect(eventsOf(clean.stdout).find((e) => e.event === "summary")).toMatchObject({ same: 2 * 152, different: 0, missing: 0, failed: 0 })

      // h3's index.html changed in place (same size), h2's m3.js removed
      const index = join(h3.base, "app/index.html")
      fs.writeFileSync(index, fs.readFileSync(index, "utf8").toUpperCase())
      fs.utimesSync(index, T, T)
      fs.rmSync(join(h2.base, "app/lib/m3.js"))
      const checked = yield* run(["check", "-r", "--json", "app"])
      expect(checked.code).toBe(1)
      expect(outcomes(checked.stdout).filter((o) => !o.endsWith(" same"))).toEqual(["h2 app/lib/m3.js missing", "h3 app/index.html different"])
      const human = yield* run(["check", "-r", "app"])
      expect(human.code).toBe(1)
      expect(human.stdout).toMatch(/DIFFERS\s+app\/index\.html\s+h3/)
      expect(human.stdout).toMatch(/MISSING\s+app\/lib\/m3\.js\s+h2/)

      // a dry run changes nothing anywhere and says what a send would
      fs.mkdirSync(join(h1.base, "app/new"))
      fs.symlinkSync("index.html", join(h1.base, "app/newlink"))
      fs.chmodSync(join(h1.base, "app/lib/m9.js"), 0o600)
      const trees = [h2, h3].map((h) => describeTree(join(h.base, "app")))
      const dry = yield* run(["send", "-n", "-r", "--json", "app"])
      expect(dry.code, dry.stdout.slice(-2000) + dry.stderr).toBe(0)
      expect([h2, h3].map((h) => describeTree(join(h.base, "app")))).toEqual(trees)
      // what changes: the new directory and symlink, a mode alone, h2's removed file, and the directories whose
      // times these changed (app here, app/lib on h2)
      const changes = (h: Daemon) => ["app", "app/lib/m9.js", "app/new", "app/newlink", ...(h === h2 ? ["app/lib", "app/lib/m3.js"] : [])]
      const expected = (outcome: string) => [h2, h3].flatMap((h) => changes(h).map((p) => `${h.name} ${p} ${outcome}`)).sort()
      expect(outcomes(dry.stdout).filter((o) => o.endsWith("would-update"))).toEqual(expected("would-update"))
      // h3's index.html has its size and mtime: only a comparison of contents finds it
      expect(outcomes(dry.stdout).filter((o) => o.includes("index.html"))).toEqual([])

      const sent = yield* run(["send", "-r", "--json", "app"])
      expect(sent.code, sent.stdout.slice(-2000)).toBe(0)
      const updated = outcomes(sent.stdout).filter((o) => o.endsWith(" updated"))
      expect(updated).toEqual(expected("updated"))
      expect(differences(describeTree(join(h1.base, "app")), describeTree(join(h2.base, "app")))).toEqual([])
      // nothing left to change: every entry is skipped, directories included
      const again = yield* run(["send", "-r", "--json", "app"])
      expect(eventsOf(again.stdout).find((e) => e.event === "summary")).toMatchObject({ updated: 0, failed: 0 })

      // --checksum: h3's index.html is found and sent; the others skip it
      const checksum = yield* run(["send", "--checksum", "--json", "app/index.html"])
      expect(checksum.code, checksum.stdout.slice(-2000)).toBe(0)
      expect(outcomes(checksum.stdout)).toEqual(["h2 app/index.html skipped", "h3 app/index.html updated"])
      expect(fs.readFileSync(index, "utf8")).toBe(fs.readFileSync(join(h1.base, "app/index.html"), "utf8"))
      const fine = yield* run(["check", "-r", "app"])
      expect(fine.code, fine.stdout.slice(-2000)).toBe(0)
    }), 120_000)

  it.scopedLive("a member killed in the middle of a transaction: the others switch, it is reported lost; restarted, it holds no part of the job and no temp", () =>
    Effect.gen(function*() {
      const { daemons: [h1, h2, h3], start } = yield* keyedCluster
      writeRelease(h1.base, "one")
      // h2 paused: the transaction waits for its answers while h3 holds it (its new directories staged)
      h2.process.kill("SIGSTOP")
      const sending = yield* Effect.fork(makuo(["send", "-r", "--json", "--timeout", "6s", "app", "--control", h1.control], 60_000))
      const holding = yield* eventually(Effect.map(phases(h3), (p) => p.length > 0), "5 seconds")
      expect(holding, h3.log()).toBe(true)
      h3.process.kill("SIGKILL")
      h2.process.kill("SIGCONT")
      const sent = yield* Fiber.join(sending)
      expect(sent.code, sent.stdout.slice(-2000)).toBe(1)
      const outcomes = eventsOf(sent.stdout).filter((e) => e.event === "outcome")
      expect(outcomes.filter((e) => e.host === "h3").every((e) => e.outcome === "lost")).toBe(true)
      // a new tree there: every entry changed it, its directories and symlink included
      expect([...new Set(outcomes.filter((e) => e.host === "h2").map((e) => e.outcome))].sort()).toEqual(["updated"])
      expect(differences(describeTree(join(h1.base, "app")), describeTree(join(h2.base, "app")))).toEqual([])
      // restarted: whatever it had staged (a temp directory beside app) is removed, nothing else is there
      const again = yield* start(3)
      expect(yield* eventually(Effect.sync(() => fs.readdirSync(again.base).length === 0), "10 seconds"), again.log() + fs.readdirSync(again.base).join()).toBe(true)
    }), 120_000)

  it.scopedLive("send -r --delete: every member removes in the same switch what the sender no longer has, reported per host; never an excluded path; a member that fails removes nothing", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = (yield* keyedCluster).daemons
      const put = (base: string, rel: string) => {
        fs.mkdirSync(join(base, rel, ".."), { recursive: true })
        fs.writeFileSync(join(base, rel), rel)
      }
      for (const rel of ["site/a", "site/old/deep/x", "site/sub/y", "site/keep.log"]) put(h1.base, rel)
      const first = yield* makuo(["send", "-r", "--json", "site", "--control", h1.control], 60_000)
      expect(first.code, first.stdout.slice(-2000) + first.stderr).toBe(0)
      // gone at the sender; only on the members, some of it excluded; outside the path sent
      fs.rmSync(join(h1.base, "site/old"), { recursive: true })
      fs.rmSync(join(h1.base, "site/sub/y"))
      put(h1.base, "site/sub/z")
      for (const h of [h2, h3]) for (const rel of ["site/extra", "site/member.log", "site/logs/kept.log", "site/stray/s", "elsewhere"]) put(h.base, rel)
      // h3 cannot take site/sub/z: site/sub there became a symlink (a path through a symlink is refused)
      fs.renameSync(join(h3.base, "site/sub"), join(h3.base, "site/sub.real"))
      fs.symlinkSync("sub.real", join(h3.base, "site/sub"))
      const h3Before = describeTree(h3.base)

      const sent = yield* makuo(["send", "-r", "--delete", "--exclude", "*.log", "--json", "site", "--control", h1.control], 60_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(1)
      const deleted = eventsOf(sent.stdout).filter((e) => e.event === "outcome" && e.outcome === "deleted").map((e) => `${e.host} ${e.path}`).sort()
      expect(deleted).toEqual(["site/extra", "site/old", "site/old/deep", "site/old/deep/x", "site/stray", "site/stray/s", "site/sub/y"].map((p) => `h2 ${p}`))
      expect(eventsOf(sent.stdout).some((e) => e.event === "outcome" && e.host === "h3" && e.outcome === "failed")).toBe(true)
      // h2: the sender's tree, and the excluded paths it had; nothing outside the path sent touched
      const withoutLogs = (t: ReturnType<typeof describeTree>) => new Map([...t].filter(([path]) => !path.endsWith(".log") && path !== "logs"))
      const [want, got] = [h1, h2].map((h) => withoutLogs(describeTree(join(h.base, "site"))))
      expect(differences(want!, got!)).toEqual([])
      expect([...got!.keys()]).toEqual([...want!.keys()])
      for (const rel of ["site/member.log", "site/logs/kept.log", "site/keep.log", "elsewhere"]) expect(fs.existsSync(join(h2.base, rel)), rel).toBe(true)
      expect(tempFiles(describeTree(h2.base))).toEqual([])
      // h3 voted FAILED: its old tree whole, nothing removed
      expect(differences(h3Before, describeTree(h3.base))).toEqual([])
      expect(tempFiles(describeTree(h3.base))).toEqual([])
      expect(h2.log()).toMatch(/paths removed/)
    }), 120_000)

  it.scopedLive("send -r --delete --exclude written with the sender's base (makuosan's absolute form): spared on members whose base is elsewhere", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = (yield* keyedCluster).daemons
      fs.mkdirSync(join(h1.base, "site/cache"), { recursive: true })
      fs.writeFileSync(join(h1.base, "site/a"), "a")
      fs.writeFileSync(join(h1.base, "site/cache/c"), "the sender's, excluded")
      for (const h of [h2, h3]) {
        fs.mkdirSync(join(h.base, "site/cache"), { recursive: true })
        fs.writeFileSync(join(h.base, "site/cache/c"), "the member's own")
        fs.writeFileSync(join(h.base, "site/extra"), "gone at the sender")
      }
      expect(new Set([h1, h2, h3].map((h) => h.base)).size).toBe(3)
      const sent = yield* makuo(["send", "-r", "--delete", "--exclude", `${h1.base}/site/cache`, "--json", "site", "--control", h1.control], 60_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      for (const h of [h2, h3]) {
        expect(fs.readdirSync(join(h.base, "site")).sort()).toEqual(["a", "cache"])
        expect(fs.readFileSync(join(h.base, "site/cache/c"), "utf8")).toBe("the member's own")
      }
    }), 120_000)

  it.scopedLive("sync: a named path gone here is removed on every member in the same switch as the rest of the job, reported per host; send -n -r --delete and sync -n say what would go and remove nothing", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = (yield* keyedCluster).daemons
      for (const h of [h2, h3]) {
        fs.mkdirSync(join(h.base, "old/deep"), { recursive: true })
        fs.writeFileSync(join(h.base, "old/deep/f"), "gone at the sender")
        fs.writeFileSync(join(h.base, "below"), "not named: stays")
      }
      fs.writeFileSync(join(h1.base, "new"), "sent")
      const outcomes = (stdout: string, outcome: string) =>
        eventsOf(stdout).filter((e) => e.event === "outcome" && e.outcome === outcome).map((e) => `${e.host} ${e.path}`).sort()
      // dry runs of removals are transactions too (--all-or-nothing is taken): what would go, per host; nothing goes
      const dryDelete = yield* makuo(["send", "-n", "-r", "--delete", "--all-or-nothing", "--json", "--control", h1.control], 60_000)
      expect(dryDelete.code, dryDelete.stdout + dryDelete.stderr).toBe(0)
      expect(outcomes(dryDelete.stdout, "would-delete")).toEqual(["below", "old", "old/deep", "old/deep/f"].flatMap((p) => [`h2 ${p}`, `h3 ${p}`]).sort())
      expect(outcomes(dryDelete.stdout, "would-update")).toEqual(["h2 new", "h3 new"])
      const drySync = yield* makuo(["sync", "-n", "--json", "old", "new", "--control", h1.control], 60_000)
      expect(drySync.code, drySync.stdout + drySync.stderr).toBe(0)
      expect(outcomes(drySync.stdout, "would-delete")).toEqual(["h2 old", "h3 old"])
      for (const h of [h2, h3]) expect(fs.readdirSync(h.base).sort()).toEqual(["below", "old"])
      expect(h2.log()).not.toMatch(/switched/)

      const synced = yield* makuo(["sync", "--json", "old", "new", "--control", h1.control], 60_000)
      expect(synced.code, synced.stdout + synced.stderr).toBe(0)
      const events = eventsOf(synced.stdout)
      expect(events.filter((e) => e.event === "outcome" && e.outcome === "deleted").map((e) => `${e.host} ${e.path}`).sort()).toEqual(["h2 old", "h3 old"])
      expect(events.filter((e) => e.event === "outcome" && e.outcome === "updated").map((e) => `${e.host} ${e.path}`).sort()).toEqual(["h2 new", "h3 new"])
      for (const h of [h2, h3]) expect(fs.readdirSync(h.base).sort()).toEqual(["below", "new"])
      expect(h2.log()).toMatch(/transaction .* 1 paths removed/)
    }), 120_000)

  it.scopedLive("a --readonly member declines a send as in v7: its files and its removals reported readonly (not failed EROFS), exit 3, nothing written there; the other commits", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = (yield* keyedClusterWith((i) => (i === 3 ? ["--readonly"] : []))).daemons
      fs.mkdirSync(join(h1.base, "site"))
      fs.writeFileSync(join(h1.base, "site/page.html"), "new\n")
      fs.mkdirSync(join(h3.base, "site"))
      fs.writeFileSync(join(h3.base, "site/stale"), "stays: a --readonly member removes nothing")
      const sent = yield* makuo(["send", "-r", "--delete", "--json", "site", "--control", h1.control], 60_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(3)
      const events = eventsOf(sent.stdout)
      const by = (host: string) =>
        events.filter((e) => e.event === "outcome" && e.host === host).map((e) => `${e.path} ${e.outcome}${e.detail === undefined ? "" : `: ${e.detail}`}`).sort()
      expect(by("h2")).toEqual(["site updated", "site/page.html updated"])
      // its removals are said under the paths sent, as a failed scan's are
      expect(by("h3")).toEqual(["site readonly", "site readonly: removes nothing", "site/page.html readonly"])
      expect(events.find((e) => e.event === "summary")).toMatchObject({ failed: 0, readonly: 3 })
      expect(fs.readFileSync(join(h2.base, "site/page.html"), "utf8")).toBe("new\n")
      expect(fs.readdirSync(join(h3.base, "site"))).toEqual(["stale"])
    }), 120_000)
})
