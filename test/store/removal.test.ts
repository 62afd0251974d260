import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../src/store/FileStore.js"

const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const base = join(root, "base")
  const victim = join(root, "victim")
  fs.mkdirSync(base)
  fs.mkdirSync(victim)
  const victims = Array.from({ length: 200 }, (_, i) => join(victim, `v${i}`))
  for (const v of victims) fs.writeFileSync(v, "root's")
  return { root, base, victim, victims, store: yield* FileStore.make(base) }
})

/** Every path under `dir`, never through a symlink. */
const tree = (dir: string, prefix = ""): Array<string> =>
  fs.readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) => {
    const rel = prefix === "" ? d.name : `${prefix}/${d.name}`
    return d.isDirectory() ? [rel, ...tree(dir, rel)] : [rel]
  }).sort()

/**
 * Swaps `dir/s` between its real directory and a symlink to `target`, as fast as it can, for at most `ms`: the
 * local user who owns `dir` racing the daemon's removal of `dir`. Errors (the daemon removed something first) are
 * part of the race and ignored.
 */
const swapper = (dir: string, target: string, ms: number) =>
  spawn(process.execPath, ["-e", `
    const fs = require("node:fs")
    const [dir, target, ms] = process.argv.slice(1)
    const s = dir + "/s", held = dir + ".held"
    const until = Date.now() + Number(ms)
    const quietly = (f) => { try { f() } catch {} }
    while (Date.now() < until) {
      quietly(() => fs.renameSync(s, held))
      quietly(() => fs.symlinkSync(target, s))
      for (let i = 0; i < 200; i++);
      quietly(() => fs.unlinkSync(s))
      quietly(() => fs.renameSync(held, s))
    }
  `, dir, target, String(ms)], { stdio: "ignore" })

describe("FileStore removal through descriptors", () => {
  it.scoped("a tree is removed whole; a symlink in it is removed itself, its target untouched", () =>
    Effect.gen(function*() {
      const { base, victim, victims, store } = yield* setup
      fs.mkdirSync(join(base, "u/d/a/b/c"), { recursive: true })
      fs.writeFileSync(join(base, "u/d/a/b/c/f"), "x")
      fs.writeFileSync(join(base, "u/d/top"), "x")
      fs.symlinkSync(victim, join(base, "u/d/a/link"))
      fs.symlinkSync(join(victim, "v0"), join(base, "u/d/a/b/filelink"))
      expect(store.removeNow("u/d")).toBe(true)
      expect(tree(base)).toEqual(["u"])
      expect(store.removeNow("u/d")).toBe(false)
      // the base's own entry that is a symlink: the link goes, not what it points to
      fs.symlinkSync(victim, join(base, "u/d"))
      expect(store.removeNow("u/d")).toBe(true)
      expect(victims.every((v) => fs.existsSync(v))).toBe(true)
    }))

  it.scoped("replacing a directory with a file removes the directory through descriptors too", () =>
    Effect.gen(function*() {
      const { base, victim, victims, store } = yield* setup
      fs.mkdirSync(join(base, "x/y"), { recursive: true })
      fs.symlinkSync(victim, join(base, "x/y/link"))
      const t = store.createTempNow("x") as FileStore.TempFile
      expect(store.commitNow(t, { mode: 0o100644, uid: 0, gid: 0, mtime: 1_700_000_000 }, 0)).toBeUndefined()
      expect(tree(base)).toEqual(["x"])
      expect(victims.every((v) => fs.existsSync(v))).toBe(true)
    }))

  it.scoped("a subdirectory swapped for a symlink to a directory outside the base while its parent is removed: nothing outside is deleted", () =>
    Effect.gen(function*() {
      const { base, victim, victims, store } = yield* setup
      const d = join(base, "u/d")
      const stage = join(base, "u/stage")
      const child = swapper(d, victim, 10_000)
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
      const deadline = Date.now() + 8_000
      for (let tries = 0; tries < 200 && Date.now() < deadline && victims.every((v) => fs.existsSync(v)); tries++) {
        // the user's tree, made again for each try: its `s` holds files named like the victim's, so a removal that
        // goes through a path reaches the victim's files whenever `s` is the link while it unlinks them
        fs.rmSync(stage, { recursive: true, force: true })
        fs.mkdirSync(stage, { recursive: true })
        for (let i = 0; i < victims.length; i++) fs.writeFileSync(join(stage, `v${i}`), "")
        try {
          fs.mkdirSync(d, { recursive: true })
          fs.renameSync(stage, join(d, "s"))
        } catch {
          // the swapper's link or held directory is in the way: this try removes what there is
        }
        store.removeNow("u/d")
        yield* Effect.yieldNow()
      }
      expect(victims.filter((v) => !fs.existsSync(v))).toEqual([])
    }), 30_000)
})
