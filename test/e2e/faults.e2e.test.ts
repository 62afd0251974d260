/**
 * Crashes and full disks between real daemons on loopback: whatever dies or fills up, the old file stays as it was,
 * no temp file outlives its transfer, and the daemons go on serving.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { BIN, type Daemon, eventually, freePort, makuo, memberNames, startDaemon, stopped, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { exitOf } from "../../scripts/lib/processes.js"
import { describeTree, makeSampleTree, tempFiles } from "../../scripts/lib/trees.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

const cluster = (dir: string, port: number, extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port, extra))
    const all = Effect.map(Effect.forEach(daemons, memberNames), (ls) => ls.every((l) => l.length === 2))
    expect(yield* eventually(all, "5 seconds")).toBe(true)
    return daemons as unknown as readonly [Daemon, Daemon, Daemon]
  })

const send = (d: Daemon, ...args: ReadonlyArray<string>) => makuo(["send", ...args, "--control", d.control], 120_000)

/** A send running in the background, its output collected. */
const sendInBackground = (d: Daemon, ...args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [BIN, "send", ...args, "--control", d.control])
  let out = ""
  child.stdout.on("data", (b: Buffer) => void (out += b.toString()))
  child.stderr.on("data", (b: Buffer) => void (out += b.toString()))
  return { exited: exitOf(child), output: () => out }
}

const temps = (d: Daemon) => tempFiles(describeTree(d.base))
/**
 * `temps` while the daemon may be removing one (its sweep, its drop of a transfer): a walk that lists a temp the
 * daemon removes before its lstat throws ENOENT; that look counts as "not yet", and the next one decides.
 */
const tempsWhileRunning = (d: Daemon): ReadonlyArray<string> | undefined => {
  try {
    return temps(d)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw e
  }
}
const content = (d: Daemon, rel: string) => fs.readFileSync(join(d.base, rel), "utf8")
/** `big.bin` as the sender has it (content digest, mode, mtime). */
const sameBig = (from: Daemon, to: Daemon) => expect(describeTree(to.base).get("big.bin")).toBe(describeTree(from.base).get("big.bin"))

const canMount = process.getuid?.() === 0

describe("faults between real daemons on loopback", () => {
  it.scopedLive("a receiver killed with SIGKILL mid-file keeps its old file; restarted, it removes the stale temp file and takes the update", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      const [h1, h2, h3] = yield* cluster(dir, port)
      makeSampleTree(h1.base, 0, 30)
      fs.writeFileSync(join(h3.base, "big.bin"), "old")
      const running = sendInBackground(h1, "big.bin", "--timeout", "3s", "--rate", "50")
      // mid-file: once its temp file is there (on a loaded machine the transfer may take a while to start)
      expect(yield* eventually(Effect.sync(() => tempsWhileRunning(h3)?.length === 1), "20 seconds"), running.output()).toBe(true)
      yield* stopped(h3, "SIGKILL")
      expect(yield* running.exited, running.output()).toBe(1)
      expect(running.output()).toMatch(/lost +big\.bin {2}h3/)
      expect(content(h3, "big.bin")).toBe("old")
      expect(temps(h3)).toEqual([expect.stringMatching(/^big\.bin\.makuo\d+$/)])

      const again = yield* startDaemon(dir, 3, port)
      // the file goes, then its log line comes through the pipe: wait for both
      const swept = Effect.sync(() => tempsWhileRunning(again)?.length === 0 && /removed big\.bin\.makuo\d+: a temp file left by a daemon that stopped mid-transfer/.test(again.log()))
      expect(yield* eventually(swept, "5 seconds"), again.log()).toBe(true)
      expect(content(again, "big.bin")).toBe("old")
      expect(yield* eventually(Effect.map(memberNames(h1), (l) => l.length === 2), "5 seconds")).toBe(true)
      const update = yield* send(h1, "big.bin")
      expect(update.code, update.stdout + update.stderr).toBe(0)
      for (const h of [h2, again]) sameBig(h1, h)
    }), 90_000)

  it.scopedLive("a sender killed with SIGKILL mid-file: the members drop the transfer after --session-timeout, temp removed, old file kept", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      const [h1, h2, h3] = yield* cluster(dir, port, ["--session-timeout", "2s"])
      makeSampleTree(h1.base, 0, 30)
      for (const h of [h2, h3]) fs.writeFileSync(join(h.base, "big.bin"), "old")
      const running = sendInBackground(h1, "big.bin", "--rate", "50")
      yield* Effect.sleep("1500 millis")
      yield* stopped(h1, "SIGKILL")
      expect(yield* running.exited).not.toBe(0)
      for (const h of [h2, h3]) expect(temps(h)).toHaveLength(1)
      // collected on the sweep after 2 s of silence (the sweep runs every 5 s)
      const collected = Effect.sync(() => [h2, h3].every((h) => tempsWhileRunning(h)?.length === 0))
      expect(yield* eventually(collected, "12 seconds")).toBe(true)
      for (const h of [h2, h3]) expect(content(h, "big.bin")).toBe("old")
      const status = yield* makuo(["status", "--json", "--control", h2.control])
      expect(JSON.parse(status.stdout).incoming).toEqual([])
    }), 60_000)

  it.scopedLive.skipIf(!canMount)("a disk that fills mid-file: WRITEERROR reported by host and path, temp removed, old file intact, the daemon goes on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      // h2's base is a 16 MiB tmpfs of its own, mounted before its daemon starts and unmounted after it stops
      const small = join(dir, "h2", "base")
      fs.mkdirSync(small, { recursive: true })
      yield* Effect.acquireRelease(
        Effect.sync(() => execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", small])),
        () => Effect.sync(() => execFileSync("umount", ["-l", small]))
      )
      const [h1, h2, h3] = yield* cluster(dir, port)
      makeSampleTree(h1.base, 0, 10)
      fs.writeFileSync(join(h2.base, "big.bin"), "old")
      const running = sendInBackground(h1, "big.bin", "--rate", "20")
      yield* Effect.sleep("1500 millis")
      // the file fitted when it was opened; now something else takes the rest of the disk
      const { bavail, bsize } = fs.statfsSync(h2.base)
      const filler = join(h2.base, "filler")
      try {
        fs.writeFileSync(filler, Buffer.alloc(bavail * bsize))
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC")
      }
      expect(yield* running.exited, running.output()).toBe(1)
      expect(running.output()).toMatch(/error +big\.bin {2}h2: write failed: ENOSPC/)
      expect(running.output()).toMatch(/update +big\.bin {2}h3/)
      expect(content(h2, "big.bin")).toBe("old")
      expect(temps(h2)).toEqual([])
      const status = JSON.parse((yield* makuo(["status", "--json", "--control", h2.control])).stdout)
      expect(status.counters.diskFull).toBe(1)
      const logged = Effect.sync(() => /receive big\.bin from 127\.0\.0\.2: write big\.bin: ENOSPC/.test(h2.log()))
      expect(yield* eventually(logged, "3 seconds"), h2.log()).toBe(true)

      fs.rmSync(filler)
      const retry = yield* send(h1, "big.bin")
      expect(retry.code, retry.stdout + retry.stderr).toBe(0)
      for (const h of [h2, h3]) sameBig(h1, h)
    }), 60_000)
})
