import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { BIN, type Daemon, eventually, freePort, makuo, memberNames, startDaemon, stopped, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { exitOf, hasCommand, runCommand } from "../../scripts/lib/processes.js"
import { describeTree, differences, makeSampleTree } from "../../scripts/lib/trees.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

const cluster = Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(loopback)
  const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port))
  const all = Effect.map(Effect.forEach(daemons, memberNames), (ls) => ls.every((l) => l.length === 2))
  expect(yield* eventually(all, "5 seconds")).toBe(true)
  return daemons as unknown as readonly [Daemon, Daemon, Daemon]
})

const send = (d: Daemon, ...args: ReadonlyArray<string>) => makuo(["send", ...args, "--control", d.control], 120_000)

describe("makuo send between real daemons on loopback", () => {
  it.scopedLive("PATHs as rsync and msync users type them: from the current directory inside the base; not found: the base named, the path meant suggested; a directory without -r is skipped", () =>
    Effect.gen(function*() {
      const [h1, h2] = yield* cluster
      fs.mkdirSync(join(h1.base, "htdocs", "img"), { recursive: true })
      fs.writeFileSync(join(h1.base, "htdocs", "index.html"), "hello")
      const inHtdocs = (...args: ReadonlyArray<string>) =>
        makuo([...args, "--control", h1.control], 60_000, { cwd: join(h1.base, "htdocs") })
      const sent = yield* inHtdocs("send", "index.html")
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      expect(sent.stdout).toMatch(/^update +htdocs\/index\.html {2}h2 h3$/m)
      expect(fs.readFileSync(join(h2.base, "htdocs", "index.html"), "utf8")).toBe("hello")
      const typo = yield* inHtdocs("send", "htdocs/index.html")
      expect(typo.code).toBe(1)
      expect(typo.stdout).toContain(`error    htdocs/htdocs/index.html: no such file or directory: not found in the base ${h1.base} `)
      expect(typo.stdout).toContain(`did you mean index.html (${join(h1.base, "htdocs", "index.html")})?`)
      const directory = yield* inHtdocs("send", "img")
      expect(directory.code).toBe(1)
      expect(directory.stdout).toMatch(/^skipping directory htdocs\/img \(use -r\)$/m)
      expect(fs.existsSync(join(h2.base, "htdocs", "img"))).toBe(false)
      // outside the base, a PATH starts at the base (msync)
      const fromBase = yield* makuo(["send", "htdocs/index.html", "--control", h1.control], 60_000, { cwd: "/" })
      expect(fromBase.stdout).toMatch(/^1 file to 2 hosts in [\d.]+ s: 2 unchanged$/m)
    }))

  it.scopedLive("send -r of 500 files and 50 MiB arrives identical; again: all skipped; -n changes nothing; -t one host; --exclude", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 500, 50)
      const first = yield* send(h1, "-r")
      expect(first.code, first.stdout.slice(-2000) + first.stderr).toBe(0)
      const want = describeTree(h1.base)
      const entries = want.size // 500 files, big.bin, empty, link and 28 directories
      expect(first.stdout).toMatch(new RegExp(`^${entries} files to 2 hosts in [\\d.]+ s, .* MB/s: ${2 * entries} updated$`, "m"))
      for (const h of [h2, h3]) expect(differences(want, describeTree(h.base))).toEqual([])

      const again = yield* send(h1, "-r", "--json", "-v")
      const outcomes = again.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; outcome?: string })
      expect(outcomes.filter((o) => o.event === "outcome").every((o) => o.outcome === "skipped")).toBe(true)
      expect(outcomes.filter((o) => o.event === "outcome")).toHaveLength(2 * entries)
      expect(outcomes.at(-1)).toMatchObject({ event: "summary", files: entries, skipped: 2 * entries, updated: 0 })
      // unchanged files are only counted, unless asked for
      const quiet = yield* send(h1, "-r")
      expect(quiet.stdout.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^${entries} files to 2 hosts in [\\d.]+ s: ${2 * entries} unchanged$`))])
      const verbose = yield* send(h1, "-r", "-v")
      expect(verbose.stdout).toContain("skip     d0/s0/f0.txt  h2 h3\n")
      expect(verbose.stdout.split("\n").filter((l) => l.startsWith("skip "))).toHaveLength(entries)

      fs.writeFileSync(join(h1.base, "d0/s0/f0.txt"), "changed")
      const dry = yield* send(h1, "-r", "-n")
      expect(dry.code).toBe(0)
      expect(dry.stdout).toContain("(dryrun) update d0/s0/f0.txt  h2 h3\n")
      expect(fs.readFileSync(join(h2.base, "d0/s0/f0.txt"), "utf8")).not.toBe("changed")

      const targeted = yield* send(h1, "-t", "h2", "d0/s0/f0.txt")
      expect(targeted.code).toBe(0)
      expect(fs.readFileSync(join(h2.base, "d0/s0/f0.txt"), "utf8")).toBe("changed")
      expect(fs.readFileSync(join(h3.base, "d0/s0/f0.txt"), "utf8")).not.toBe("changed")

      fs.mkdirSync(join(h1.base, "logs"))
      fs.writeFileSync(join(h1.base, "logs/a.log"), "x")
      fs.writeFileSync(join(h1.base, "logs/keep.txt"), "x")
      const excluded = yield* send(h1, "-r", "--exclude", "*.log", "logs")
      expect(excluded.code).toBe(0)
      expect(fs.existsSync(join(h3.base, "logs/keep.txt"))).toBe(true)
      expect(fs.existsSync(join(h3.base, "logs/a.log"))).toBe(false)

      const outside = yield* send(h1, "/etc/passwd")
      expect([outside.code, outside.stderr.trim()]).toEqual([2, `makuo: /etc/passwd: outside the base directory ${h1.base}`])
    }), 300_000)

  it.scopedLive.skipIf(!hasCommand("script"))("on a terminal: a live footer (files, bytes, rate, hosts) redrawn in place, gone at the end; -q prints only the summary", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 20, 16)
      // script(1) gives the client a pseudo-terminal: what a person at a shell sees
      const tty = yield* runCommand(["script", "-qec", `${process.execPath} ${BIN} send -r --rate 40 --control ${h1.control}`, "/dev/null"], 60_000)
      expect(tty.code, tty.stdout).toBe(0)
      expect(tty.stdout).toMatch(/\d+\/\d+\+? files {2}[\d.]+ (B|KiB|MiB)\/[\d.]+ (B|KiB|MiB)\+? {2}[\d.]+ MB\/s/)
      expect(tty.stdout).toMatch(/big\.bin {2}(sending \d+%|resending to h[23]|waiting for h[23])/)
      expect(tty.stdout).not.toMatch(/OPEN|MARK|NONE/)
      expect(tty.stdout).toContain("\x1b[J")
      expect(tty.stdout).toMatch(/files to 2 hosts in .*: \d+ updated\r?\n$/)
      for (const h of [h2, h3]) expect(differences(describeTree(h1.base), describeTree(h.base))).toEqual([])
      // in a pipe nothing but lines; -q: only the summary when nothing went wrong
      const quiet = yield* send(h1, "-r", "-q")
      expect(quiet.stdout).not.toContain("\x1b")
      expect(quiet.stdout.trim().split("\n")).toEqual([expect.stringMatching(/ s: \d+ unchanged$/)])
    }), 120_000)

  it.scopedLive("a daemon killed with SIGKILL mid-transfer is reported lost; the other receives everything", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 0, 30)
      const child = spawn(process.execPath, [BIN, "send", "-r", "--timeout", "3s", "--rate", "50", "--control", h1.control])
      let out = ""
      child.stdout.on("data", (d: Buffer) => void (out += d.toString()))
      const exited = exitOf(child)
      yield* Effect.sleep("1500 millis")
      yield* stopped(h3, "SIGKILL")
      const code = yield* exited
      expect(code, out).toBe(1)
      expect(out).toMatch(/lost +big\.bin {2}h3/)
      expect(out).toMatch(/update +big\.bin {2}h2/)
      expect(differences(describeTree(h1.base), describeTree(h2.base))).toEqual([])
    }), 120_000)

  it.scopedLive("status shows a 200 MiB transfer in flight both ways; Ctrl-C breaks it off on every member: no file, no temp file, exit 130", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 0, 200)
      const child = spawn(process.execPath, [BIN, "send", "big.bin", "--rate", "400", "--control", h1.control])
      const exited = exitOf(child)
      yield* Effect.sleep("1500 millis")
      // status shows the transfer in flight, both ways
      const status = (d: Daemon) => Effect.map(makuo(["status", "--json", "--control", d.control]), (r) => JSON.parse(r.stdout))
      const sending = yield* status(h1)
      // the I/O path: the native addon's, unless the fallback is forced (npm run test:dgram)
      expect(sending.io).toMatch(process.env["MAKUO_IO"] === "dgram" ? /^dgram$/ : /^(gso|sendmmsg)$/)
      expect(sending.outgoing).toMatchObject([{ path: "big.bin", operation: "send", blocks: 200 * 1024 }])
      expect(sending.outgoing[0].sent).toBeGreaterThan(0)
      expect(sending.outgoing[0].sent).toBeLessThan(200 * 1024)
      expect(sending.outgoing[0].hosts.map((h: { host: string }) => h.host).sort()).toEqual(["h2", "h3"])
      expect((yield* status(h2)).incoming).toMatchObject([{ path: "big.bin", from: h1.address, phase: "Open" }])
      child.kill("SIGINT")
      expect(yield* exited).toBe(130)
      const clean = Effect.sync(() => [h2, h3].every((h) => fs.readdirSync(h.base).length === 0))
      expect(yield* eventually(clean, "2 seconds")).toBe(true)
    }), 60_000)

  it.scopedLive("SIGTERM while a client's send runs: the daemon breaks the transfer off and exits at once", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 0, 30)
      const child = spawn(process.execPath, [BIN, "send", "big.bin", "--rate", "20", "--control", h1.control])
      const client = exitOf(child)
      yield* Effect.sleep("1500 millis")
      const exit = yield* stopped(h1, "SIGTERM").pipe(Effect.timeout("10 seconds"), Effect.option)
      expect(exit).toEqual(Option.some(0))
      expect(yield* client).not.toBe(0)
      const clean = Effect.sync(() => [h2, h3].every((h) => fs.readdirSync(h.base).length === 0))
      expect(yield* eventually(clean, "3 seconds")).toBe(true)
    }), 60_000)

  it.scopedLive("send -r --delete removes a subtree on the members; check -r names a corrupted copy, send --checksum repairs it; sync of a removed file", () =>
    Effect.gen(function*() {
      const [h1, h2, h3] = yield* cluster
      makeSampleTree(h1.base, 100, 1)
      expect((yield* send(h1, "-r")).code).toBe(0)
      fs.rmSync(join(h1.base, "d3"), { recursive: true })
      fs.mkdirSync(join(h2.base, "extra"))
      fs.writeFileSync(join(h2.base, "extra/junk"), "x")
      fs.writeFileSync(join(h3.base, "keep.log"), "excluded, stays")
      const deleted = yield* send(h1, "-r", "--delete", "--exclude", "*.log")
      expect(deleted.code, deleted.stdout + deleted.stderr).toBe(0)
      expect(deleted.stdout).toMatch(/^delete +d3 {2}h2 h3$/m)
      expect(deleted.stdout).toMatch(/^delete +extra {2}h2/m)
      for (const h of [h2, h3]) expect(fs.existsSync(join(h.base, "d3"))).toBe(false)
      expect(fs.existsSync(join(h2.base, "extra"))).toBe(false)
      expect(fs.readFileSync(join(h3.base, "keep.log"), "utf8")).toBe("excluded, stays")
      expect(differences(describeTree(h1.base), describeTree(h2.base))).toEqual([])

      // other bytes under the same size and mtime (what a forged DATA block leaves): check names the copy, a
      // plain send skips it, send --checksum repairs it
      const corrupted = join(h3.base, "d1/s1/f1.txt")
      const before = fs.statSync(corrupted)
      const bytes = fs.readFileSync(corrupted)
      bytes[0] = bytes[0]! ^ 0xff
      fs.writeFileSync(corrupted, bytes)
      fs.utimesSync(corrupted, before.atime, before.mtime)
      const checked = yield* makuo(["check", "-r", "--control", h1.control])
      expect(checked.code).toBe(1)
      expect(checked.stdout).toMatch(/^DIFFERS +d1\/s1\/f1\.txt {2}h3$/m)
      // check -r prints the differences only
      expect(checked.stdout.trim().split("\n")).toHaveLength(2)
      expect((yield* send(h1, "-r", "-q")).stdout).toMatch(/ s: \d+ unchanged$/m)
      const repaired = yield* send(h1, "-r", "--checksum", "--json")
      expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0)
      const updates = repaired.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((o) => o.outcome === "updated")
      expect(updates).toMatchObject([{ path: "d1/s1/f1.txt", host: "h3", detail: "content differed" }])
      expect((yield* makuo(["check", "-r", "--control", h1.control])).code).toBe(0)

      fs.rmSync(join(h1.base, "d0/s0/f0.txt"))
      const synced = yield* makuo(["sync", "d0/s0/f0.txt", "--control", h1.control])
      expect(synced.code).toBe(0)
      expect(synced.stdout).toMatch(/^delete +d0\/s0\/f0\.txt {2}h2/m)
      for (const h of [h2, h3]) expect(fs.existsSync(join(h.base, "d0/s0/f0.txt"))).toBe(false)
    }), 120_000)
})
