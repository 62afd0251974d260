/**
 * A member's staging of a tree transaction on a real disk: nothing is visible under the base before the switch,
 * a new directory tree appears at once, a bad entry (refused path, symlinked parent, wrong digest) fails alone,
 * a discard leaves nothing behind, and a switch cut off after its journal is finished by the roll-forward.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as FileStore from "../../src/store/FileStore.js"
import { rollForwardNow } from "../../src/store/journal.js"
import * as Staging from "../../src/store/staging.js"
import type { Entry } from "../../src/transfer/txn/messages.js"

const T = { sec: 1_700_000_000, nsec: 123_456_000 }
const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0

const file = (path: string, content: string, mode = 0o640): Entry => ({
  path,
  type: "file",
  size: Buffer.byteLength(content),
  mode,
  uid,
  gid,
  mtime: T,
  digest: new Uint8Array(createHash("sha256").update(content).digest())
})
const dir = (path: string, mode = 0o750): Entry => ({ path, type: "directory", size: 0, mode, uid, gid, mtime: T })
const link = (path: string, target: string): Entry => ({ path, type: "symlink", size: 0, mode: 0o777, uid, gid, mtime: T, target })

const setup = Effect.gen(function*() {
  const root = yield* tempDir
  const base = join(root, "base")
  const journal = join(root, "journal")
  fs.mkdirSync(base)
  const store = yield* FileStore.make(base)
  let held = 0
  const notices: Array<string> = []
  const notice = (kind: string) => void notices.push(kind)
  const staging = Staging.make(store, { keepSetId: false, journalDir: journal, take: () => (held++, true), give: () => void held--, notice, held: Staging.heldBudget(Infinity) })
  return { root, base, journal, store, staging, held: () => held, notices }
})

/** Looks every entry up, writes the contents of those that need them in two blocks, stages each: the errnos. */
const stageAll = (staging: Staging.Staging, entries: ReadonlyArray<Entry>, contents: Record<string, string>) =>
  entries.map((e) => {
    const need = staging.lookupNow(e)
    if (need === "none") return 0
    if (need === "contents") {
      const bytes = Buffer.from(contents[e.path] ?? "")
      const half = Math.floor(bytes.length / 2)
      staging.writeNow(e, half, bytes.subarray(half))
      staging.writeNow(e, 0, bytes.subarray(0, half))
    }
    return staging.stageNow(e)
  })

const names = (path: string) => fs.readdirSync(path).sort()

/** Runs `f` counting the calls of the named synchronous `node:fs` functions made by anyone, by name. */
const counting = <A>(calls: ReadonlyArray<keyof typeof fs>, f: () => A): { readonly result: A; readonly counts: Record<string, number> } => {
  const cjs = createRequire(import.meta.url)("node:fs") as Record<string, unknown>
  const originals = calls.map((name) => [name, cjs[name] as (...args: ReadonlyArray<unknown>) => unknown] as const)
  const counts: Record<string, number> = Object.fromEntries(calls.map((name) => [name, 0]))
  for (const [name, original] of originals) cjs[name] = (...args: ReadonlyArray<unknown>) => (counts[name]!++, original(...args))
  syncBuiltinESMExports()
  try {
    return { result: f(), counts }
  } finally {
    for (const [name, original] of originals) cjs[name] = original
    syncBuiltinESMExports()
  }
}

/** Runs `f` counting the write system calls of `node:fs` (`writeSync`, `writevSync`) made by anyone. */
const countingWrites = <A>(f: () => A): { readonly result: A; readonly writes: number } => {
  const { counts, result } = counting(["writeSync", "writevSync"], f)
  return { result, writes: counts.writeSync! + counts.writevSync! }
}

describe("tree transaction staging", () => {
  it.scoped("a pass asks for the free space once, not per file, and counts what its temps take: a file beyond it fails ENOSPC", () =>
    Effect.gen(function*() {
      const { base, journal, store } = yield* setup
      let asked = 0
      // 25 bytes free: two files of 10 fit, the third does not
      const counted: FileStore.FileStoreShape = { ...store, freeBytesNow: () => (asked++, 25) }
      const staging = Staging.make(counted, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      const entries = ["a", "b", "c"].map((name) => file(name, "0123456789"))
      const errnos = staging.passNow(() => stageAll(staging, entries, { a: "0123456789", b: "0123456789", c: "0123456789" }))
      expect(errnos).toEqual([0, 0, 28])
      expect(asked).toBe(1)
      // the next pass asks again
      const d = file("d", "x")
      expect(staging.passNow(() => stageAll(staging, [d], { d: "x" }))).toEqual([0])
      expect(asked).toBe(2)
      expect(staging.switchNow(12, [...entries.slice(0, 2), d], [])).toBeUndefined()
      expect(names(base)).toEqual(["a", "b", "d"])
    }))

  it.scoped("a pass writes a run of a temp's consecutive blocks with one pwritev, not one write per block; the file is whole", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      // a file too big to be held in memory until it is staged (64 KiB)
      const blocks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(2000, 0x30 + i))
      const e = file("big", Buffer.concat(blocks).toString())
      expect(staging.lookupNow(e)).toBe("contents")
      // the first block alone, then a receive batch of the next 38, the last alone
      staging.writeNow(e, 0, blocks[0]!)
      const batch = countingWrites(() => staging.passNow(() => blocks.slice(1, 39).forEach((b, i) => staging.writeNow(e, (i + 1) * 2000, b))))
      expect(batch.writes).toBe(0)
      // outside a pass: the run first, then the block
      expect(countingWrites(() => staging.writeNow(e, 39 * 2000, blocks[39]!)).writes).toBe(2)
      expect(staging.stageNow(e)).toBe(0)
      expect(staging.switchNow(12, [e], [])).toBeUndefined()
      expect(fs.readFileSync(join(base, "big")).equals(Buffer.concat(blocks))).toBe(true)
    }))

  it.scoped("passes of one block each (a slow link's wake-ups) add to one run: no write until the entry is staged, then one; the file is whole", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      const blocks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(2000, 0x30 + i))
      const e = file("slow", Buffer.concat(blocks).toString())
      expect(staging.lookupNow(e)).toBe("contents")
      // each block from a slot read into again for the next, as the transport's receive buffer is
      const slot = Buffer.alloc(2000)
      const arrivals = countingWrites(() => blocks.forEach((b, i) => staging.passNow(() => (b.copy(slot), staging.writeNow(e, i * 2000, slot)))))
      expect(arrivals.writes).toBe(0)
      const staged = countingWrites(() => staging.stageNow(e))
      expect(staged).toEqual({ result: 0, writes: 1 })
      expect(staging.switchNow(12, [e], [])).toBeUndefined()
      expect(fs.readFileSync(join(base, "slow")).equals(Buffer.concat(blocks))).toBe(true)
    }))

  it.scoped("a new file's temp is made with the owner, mode and time of the manifest", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      const same = file("same", "as made", 0o600)
      const other = file("other", "group readable", 0o640)
      const contents = { same: "as made", other: "group readable" }
      const staged = staging.passNow(() =>
        [same, other].map((e) => {
          expect(staging.lookupNow(e)).toBe("contents")
          staging.writeNow(e, 0, Buffer.from(contents[e.path as keyof typeof contents]))
          return staging.stageNow(e)
        })
      )
      expect(staged).toEqual([0, 0])
      expect(staging.switchNow(3, [same, other], [])).toBeUndefined()
      for (const e of [same, other]) {
        const st = fs.statSync(join(base, e.path))
        expect({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) }).toEqual({ mode: e.mode, uid, gid, mtime: T.sec })
        expect(fs.readFileSync(join(base, e.path), "utf8")).toBe(contents[e.path as keyof typeof contents])
      }
    }))

  it.scoped("a switch puts each file in place with one rename, no look at its temp first", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      const entries = Array.from({ length: 5 }, (_, i) => file(`f${i}`, `contents ${i}`))
      expect(staging.passNow(() => stageAll(staging, entries, Object.fromEntries(entries.map((e, i) => [e.path, `contents ${i}`]))))).toEqual(entries.map(() => 0))
      const switched = counting(["lstatSync"], () => staging.switchNow(4, entries, []))
      expect(switched.result).toBeUndefined()
      expect(switched.counts).toEqual({ lstatSync: 0 })
      expect(names(base)).toEqual(entries.map((e) => e.path))
    }))

  it.scoped("a pass's blocks may come from one buffer the caller reuses (the transport's receive slots): what reaches the disk is what was written", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      const blocks = Array.from({ length: 30 }, (_, i) => Buffer.alloc(100, 0x41 + i))
      const e = file("slots", Buffer.concat(blocks).toString())
      expect(staging.lookupNow(e)).toBe("contents")
      // one slot, read into again for each datagram before the pass ends, as a wake-up's later reads do
      const slot = Buffer.alloc(100)
      staging.passNow(() => blocks.forEach((b, i) => (b.copy(slot), staging.writeNow(e, i * 100, slot))))
      expect(staging.stageNow(e)).toBe(0)
      expect(staging.switchNow(12, [e], [])).toBeUndefined()
      expect(fs.readFileSync(join(base, "slots")).equals(Buffer.concat(blocks))).toBe(true)
    }))

  it.scoped("a switch whose one step fails does every other step and names the failed one (nothing is undone)", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      fs.mkdirSync(join(base, "d"), { mode: 0o700 })
      const entries = [dir("d", 0o755), file("x", "new x")]
      expect(stageAll(staging, entries, { x: "new x" })).toEqual([0, 0])
      // the directory whose metadata the switch re-applies is gone before the switch
      fs.rmdirSync(join(base, "d"))
      const failed = staging.switchNow(11, entries, [])
      expect(failed).toMatchObject({ _tag: "StoreError", path: "d", code: "ENOENT" })
      expect(failed?.message).toContain("d")
      expect(fs.readFileSync(join(base, "x"), "utf8")).toBe("new x")
    }))

  it.scoped("nothing is visible before the switch; then the new tree, the updated file and the symlink appear with their metadata", () =>
    Effect.gen(function*() {
      const { base, journal, store, staging, held } = yield* setup
      fs.writeFileSync(join(base, "old.txt"), "old contents")
      const entries = [dir("new"), dir("new/sub"), file("new/sub/f", "deep file"), file("new/g", "g"), file("old.txt", "new contents!", 0o600), link("ln", "old.txt")]
      const contents = { "new/sub/f": "deep file", "new/g": "g", "old.txt": "new contents!" }
      expect(stageAll(staging, entries, contents)).toEqual([0, 0, 0, 0, 0, 0])
      expect(held()).toBe(0)
      // a late copy of a block of a staged file changes nothing: no second temp, no descriptor
      staging.writeNow(entries[4]!, 0, Buffer.from("late"))
      expect(held()).toBe(0)
      expect(names(base).filter(FileStore.isTempName)).toHaveLength(3)
      // only temps beside their targets, which no reader of the old names sees
      expect(names(base).filter((n) => !FileStore.isTempName(n))).toEqual(["old.txt"])
      expect(fs.readFileSync(join(base, "old.txt"), "utf8")).toBe("old contents")
      expect(staging.switchNow(7, entries, [])).toBeUndefined()
      expect(names(base)).toEqual(["ln", "new", "old.txt"])
      expect(names(join(base, "new"))).toEqual(["g", "sub"])
      expect(fs.readFileSync(join(base, "new/sub/f"), "utf8")).toBe("deep file")
      expect(fs.readFileSync(join(base, "old.txt"), "utf8")).toBe("new contents!")
      expect(fs.readlinkSync(join(base, "ln"))).toBe("old.txt")
      const st = fs.statSync(join(base, "old.txt"), { bigint: true })
      expect(Number(st.mode & 0o7777n)).toBe(0o600)
      expect(Number(st.mtimeNs / 1000n)).toBe(T.sec * 1_000_000 + T.nsec / 1000)
      expect(Number(fs.statSync(join(base, "new/sub")).mode & 0o7777)).toBe(0o750)
      // the directory's time is set last, after everything under it
      expect(Math.floor(fs.statSync(join(base, "new")).mtimeMs / 1000)).toBe(T.sec)
      expect(names(journal)).toEqual([])
      const fresh = Staging.make(store, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      // switched: the same manifest now needs nothing but the directories' metadata, set again at every switch
      // though unchanged ("reapply": not reported as a change)
      expect(entries.map((e) => fresh.lookupNow(e))).toEqual(["reapply", "reapply", "none", "none", "none", "none"])
    }))

  it.scoped("a directory whose contents change keeps the sender's time after the switch", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      fs.mkdirSync(join(base, "d"))
      fs.chmodSync(join(base, "d"), 0o750)
      fs.utimesSync(join(base, "d"), T.sec + T.nsec / 1e9, T.sec + T.nsec / 1e9)
      const entries = [dir("d"), file("d/new", "a new file")]
      expect(stageAll(staging, entries, { "d/new": "a new file" })).toEqual([0, 0])
      expect(staging.switchNow(4, entries, [])).toBeUndefined()
      expect(Math.floor(fs.statSync(join(base, "d")).mtimeMs / 1000)).toBe(T.sec)
    }))

  it.scoped("a file becomes a directory tree and a directory tree a file, each in the one switch", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      fs.writeFileSync(join(base, "was-file"), "a file")
      fs.mkdirSync(join(base, "was-dir/deep"), { recursive: true })
      fs.writeFileSync(join(base, "was-dir/deep/x"), "x")
      const entries = [dir("was-file"), file("was-file/inside", "now a directory"), file("was-dir", "now a file")]
      expect(stageAll(staging, entries, { "was-file/inside": "now a directory", "was-dir": "now a file" })).toEqual([0, 0, 0])
      expect(fs.readFileSync(join(base, "was-file"), "utf8")).toBe("a file")
      expect(fs.existsSync(join(base, "was-dir/deep/x"))).toBe(true)
      expect(staging.switchNow(3, entries, [])).toBeUndefined()
      expect(names(base)).toEqual(["was-dir", "was-file"])
      expect(fs.readFileSync(join(base, "was-file/inside"), "utf8")).toBe("now a directory")
      expect(fs.readFileSync(join(base, "was-dir"), "utf8")).toBe("now a file")
    }))

  it.scoped("refused paths and a symlinked parent fail their entry alone, with their errno; nothing outside is touched", () =>
    Effect.gen(function*() {
      const { root, base, staging, notices } = yield* setup
      fs.mkdirSync(join(root, "outside"))
      fs.symlinkSync(join(root, "outside"), join(base, "planted"))
      const entries = [file("/etc/x", "a"), file("../escape", "b"), file("planted/x", "c"), file("ok", "fine", 0o4755)]
      const needs = entries.map((e) => staging.lookupNow(e))
      expect(needs).toEqual(["metadata", "metadata", "metadata", "contents"])
      expect(notices).toEqual(["refusedPaths", "refusedPaths", "refusedPaths"])
      staging.writeNow(entries[3]!, 0, Buffer.from("fine"))
      expect(entries.map((e) => staging.stageNow(e))).toEqual([13, 13, 40, 0])
      expect(names(join(root, "outside"))).toEqual([])
      expect(staging.switchNow(1, [entries[3]!], [])).toBeUndefined()
      expect(fs.readFileSync(join(base, "ok"), "utf8")).toBe("fine")
      // without --keep-setid the setuid bit is dropped, and said so
      expect(fs.statSync(join(base, "ok")).mode & 0o7777).toBe(0o755)
      expect(notices.at(-1)).toBe("setidDropped")
    }))

  it.scoped("new nested directories are staged whatever the order: their own entries looked up and staged before the contents under them arrive", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      // the sender's order (a directory after its contents); a member stages metadata-only entries at once
      const f = file("td/d/f", "deep")
      const entries = [f, dir("td/d"), dir("td")]
      expect(entries.map((e) => staging.lookupNow(e))).toEqual(["contents", "metadata", "metadata"])
      expect([staging.stageNow(entries[1]!), staging.stageNow(entries[2]!)]).toEqual([0, 0])
      staging.writeNow(f, 0, Buffer.from("deep"))
      expect(staging.stageNow(f)).toBe(0)
      // a late copy of its block: nothing more is made for it inside the new directory's temp
      staging.writeNow(f, 0, Buffer.from("deep"))
      expect(names(base)).toHaveLength(1)
      expect(names(base)[0]).toMatch(/^td\.makuo\d+$/)
      expect(staging.switchNow(1, entries, [])).toBeUndefined()
      expect(fs.readFileSync(join(base, "td/d/f"), "utf8")).toBe("deep")
      expect(names(join(base, "td/d"))).toEqual(["f"])
      expect(names(base)).toEqual(["td"])
      expect(fs.statSync(join(base, "td/d")).mode & 0o777).toBe(0o750)
    }))

  it.scoped("a digest or size that differs from the manifest fails only that entry (EIO)", () =>
    Effect.gen(function*() {
      const { staging } = yield* setup
      const good = file("good", "good")
      const bad = { ...file("bad", "right"), size: 5 }
      const short = file("short", "twelve bytes")
      expect(stageAll(staging, [good, bad, short], { good: "good", bad: "wrong", short: "twelve" })).toEqual([0, 5, 5])
    }))

  it.scoped("a discard removes every temp, new directories with what is in them, and puts back the times of the directories they were made in", () =>
    Effect.gen(function*() {
      const { base, journal, staging, held } = yield* setup
      fs.writeFileSync(join(base, "keep"), "kept")
      fs.mkdirSync(join(base, "old"))
      fs.writeFileSync(join(base, "old/f"), "old")
      for (const d of [base, join(base, "old")]) fs.utimesSync(d, 1_000_000_000, 1_000_000_000)
      stageAll(staging, [file("old/f", "new")], { "old/f": "new" })
      stageAll(staging, [dir("n"), file("n/f", "x"), file("keep", "changed")], { "n/f": "x", keep: "changed" })
      // a file still being written holds a descriptor until the discard
      staging.lookupNow(file("half", "0123456789"))
      staging.writeNow(file("half", "0123456789"), 0, Buffer.from("01234"))
      staging.discardNow()
      expect(held()).toBe(0)
      expect(names(base)).toEqual(["keep", "old"])
      expect(fs.readFileSync(join(base, "keep"), "utf8")).toBe("kept")
      expect(names(join(base, "old"))).toEqual(["f"])
      for (const d of [base, join(base, "old")]) expect(fs.statSync(d).mtimeMs).toBe(1_000_000_000_000)
      expect(names(journal)).toEqual([])
    }))

  it.scoped("the new directories of a transaction that never switched are removed at the next start (the sweep leaves directories alone)", () =>
    Effect.gen(function*() {
      const { base, journal, store, staging } = yield* setup
      fs.mkdirSync(join(base, "old"))
      stageAll(staging, [dir("n"), file("n/f", "x"), dir("old/m"), file("top", "t")], { "n/f": "x", top: "t" })
      expect(names(base).filter(FileStore.isTempName)).toHaveLength(2)
      // the daemon dies here: no switch, no discard
      const { lines } = rollForwardNow(journal, store)
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(/^removed n\.makuo\d+: a new directory staged by a transaction that never switched$/)
      expect(names(base).filter((n) => !FileStore.isTempName(n))).toEqual(["old"])
      // the temp file is the stale temp sweep's (older than the restarted daemon)
      expect(names(base).filter(FileStore.isTempName)).toEqual([expect.stringMatching(/^top\.makuo/)])
      expect(names(join(base, "old"))).toEqual([])
      expect(names(journal)).toEqual([])
    }))

  it.scoped("a switch cut off between its journal and its renames is finished by the roll-forward: the whole new tree", () =>
    Effect.gen(function*() {
      const { base, journal, store, staging } = yield* setup
      fs.writeFileSync(join(base, "a"), "old a")
      fs.mkdirSync(join(base, "d"))
      fs.writeFileSync(join(base, "d/b"), "old b")
      const entries = [file("a", "new a"), dir("d"), file("d/b", "new b"), dir("t"), file("t/c", "new c")]
      expect(stageAll(staging, entries, { a: "new a", "d/b": "new b", "t/c": "new c" })).toEqual([0, 0, 0, 0, 0])
      const crash = new Error("killed")
      expect(() => staging.switchNow(9, entries, [], { afterIntent: () => { throw crash } })).toThrow(crash)
      // the old tree, whole, and the intent on disk
      expect(fs.readFileSync(join(base, "a"), "utf8")).toBe("old a")
      expect(fs.existsSync(join(base, "t"))).toBe(false)
      // the intent, and the record of the new directory staged
      const intent = names(journal).filter((n) => n.endsWith(".journal"))
      expect(intent).toHaveLength(1)
      expect(names(journal).filter((n) => n.endsWith(".staging"))).toHaveLength(1)
      const copy = fs.readFileSync(join(journal, intent[0]!))
      const { lines } = rollForwardNow(journal, store)
      // the renamed temp directory is not removed again as one never switched
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/rolled forward transaction 9 .*3 renames/)
      expect(fs.readFileSync(join(base, "a"), "utf8")).toBe("new a")
      expect(fs.readFileSync(join(base, "d/b"), "utf8")).toBe("new b")
      expect(fs.readFileSync(join(base, "t/c"), "utf8")).toBe("new c")
      expect(names(base)).toEqual(["a", "d", "t"])
      expect(names(journal)).toEqual([])
      // carried out twice (killed after the renames, before the journal went): nothing more changes
      fs.writeFileSync(join(journal, "again.journal"), copy)
      expect(rollForwardNow(journal, store).lines[0]).toMatch(/rolled forward transaction 9/)
      expect(names(base)).toEqual(["a", "d", "t"])
      expect(names(join(base, "t"))).toEqual(["c"])
      expect(fs.readFileSync(join(base, "d/b"), "utf8")).toBe("new b")
    }))
  it.scoped("the entries of one directory share one walk to it in a pass and in the switch; nothing stays open after", () =>
    Effect.gen(function*() {
      const { base, journal, store } = yield* setup
      fs.mkdirSync(join(base, "d/e"), { recursive: true })
      let walks = 0
      const counted: FileStore.FileStoreShape = { ...store, openParentNow: (op, rel, create) => (walks++, store.openParentNow(op, rel, create)) }
      const staging = Staging.make(counted, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      const entries = Array.from({ length: 20 }, (_, i) => file(`d/e/f${i}`, `contents ${i}`))
      const open = () => fs.readdirSync("/proc/self/fd").length
      const before = open()
      expect(staging.passNow(() => entries.map((e) => staging.lookupNow(e)))).toEqual(entries.map(() => "contents"))
      expect(walks).toBe(1)
      expect(open()).toBe(before)
      walks = 0
      // small files: held until staged, so their writes walk nowhere, their staging once
      staging.passNow(() => entries.forEach((e, i) => staging.writeNow(e, 0, Buffer.from(`contents ${i}`))))
      expect(walks).toBe(0)
      expect(staging.passNow(() => entries.map((e) => staging.stageNow(e)))).toEqual(entries.map(() => 0))
      expect(walks).toBe(1)
      walks = 0
      expect(staging.switchNow(5, entries, [])).toBeUndefined()
      expect(walks).toBe(1)
      expect(open()).toBe(before)
      expect(names(join(base, "d/e"))).toEqual(entries.map((e) => e.path.slice(4)).sort())
      expect(fs.readFileSync(join(base, "d/e/f7"), "utf8")).toBe("contents 7")
    }))

  it.scoped("a small file is held in memory until it is staged: no temp and no descriptor before, none at all when its digest is wrong", () =>
    Effect.gen(function*() {
      const { base, staging, held } = yield* setup
      const good = file("good", "0123456789")
      const bad = file("bad", "0123456789")
      for (const e of [good, bad]) expect(staging.lookupNow(e)).toBe("contents")
      // out of order, from one slot the caller reuses
      const slot = Buffer.alloc(5)
      for (const [e, text] of [[good, "0123456789"], [bad, "01234abcde"]] as const) {
        slot.write(text.slice(5))
        staging.writeNow(e, 5, slot)
        slot.write(text.slice(0, 5))
        staging.writeNow(e, 0, slot)
      }
      expect(names(base)).toEqual([])
      expect(held()).toBe(0)
      const written = countingWrites(() => [staging.stageNow(good), staging.stageNow(bad)])
      expect(written.result).toEqual([0, 5])
      // the good one's temp only (its contents written by the addon in one call, or by one write)
      expect(written.writes).toBeLessThanOrEqual(1)
      expect(names(base)).toEqual([expect.stringMatching(/^good\.makuo\d+$/)])
      expect(held()).toBe(0)
      expect(staging.switchNow(2, [good], [])).toBeUndefined()
      expect(names(base)).toEqual(["good"])
      expect(fs.readFileSync(join(base, "good"), "utf8")).toBe("0123456789")
    }))

  it.scoped("the daemon's budget for held files is shared by its transactions: past it, a file goes to its temp (a descriptor) as it comes; a transaction's end gives its share back", () =>
    Effect.gen(function*() {
      const { root, store } = yield* setup
      const budget = Staging.heldBudget(12)
      let descriptors = 0
      const make = (journal: string) =>
        Staging.make(store, { keepSetId: false, journalDir: join(root, journal), take: () => (descriptors++, true), give: () => void descriptors--, notice: () => {}, held: budget })
      const [first, second] = [make("j1"), make("j2")]
      const a = file("a", "0123456789")
      const b = file("b", "abcdefghij")
      expect(first.lookupNow(a)).toBe("contents")
      expect(second.lookupNow(b)).toBe("contents")
      // half of each: the first is held (10 of 12 bytes), the second finds no room and opens its temp
      first.writeNow(a, 0, Buffer.from("01234"))
      expect(descriptors).toBe(0)
      second.writeNow(b, 0, Buffer.from("abcde"))
      expect(descriptors).toBe(1)
      // the first transaction discarded: its 10 bytes free for a third
      first.discardNow()
      const third = make("j3")
      const c = file("c", "ABCDEFGHIJ")
      expect(third.lookupNow(c)).toBe("contents")
      third.writeNow(c, 0, Buffer.from("ABCDE"))
      expect(descriptors).toBe(1)
      second.discardNow()
      third.discardNow()
    }))

  it.scoped("held files share a slab counted in full against the budget until none of them is held: one left short keeps it counted", () =>
    Effect.gen(function*() {
      const { root, store } = yield* setup
      let used = 0
      const inner = Staging.heldBudget(Infinity)
      const budget: Staging.HeldBudget = { take: (n) => (inner.take(n) && ((used += n), true)), give: (n) => (inner.give(n), (used -= n)) }
      const staging = Staging.make(store, { keepSetId: false, journalDir: join(root, "j"), take: () => true, give: () => {}, notice: () => {}, held: budget })
      const [a, b] = [file("a", "0123456789"), file("b", "abcdefghij")]
      for (const e of [a, b]) expect(staging.lookupNow(e)).toBe("contents")
      staging.writeNow(a, 0, Buffer.from("0123456789"))
      staging.writeNow(b, 0, Buffer.from("abcde"))
      // one slab for both, counted whole however little of it they take
      const slab = used
      expect(slab).toBeGreaterThanOrEqual(64 * 1024)
      expect(staging.stageNow(a)).toBe(0)
      expect(used).toBe(slab)
      // b, left one block short, keeps the slab counted until the transaction ends
      staging.discardNow()
      expect(used).toBe(0)
    }))

  it.scoped("a block past a held file's size fails it (EIO), and so does a file of which a block never came", () =>
    Effect.gen(function*() {
      const { base, staging } = yield* setup
      const long = file("long", "0123456789")
      const gap = file("gap", "0123456789")
      for (const e of [long, gap]) expect(staging.lookupNow(e)).toBe("contents")
      staging.writeNow(long, 0, Buffer.from("0123456789"))
      staging.writeNow(long, 10, Buffer.from("!"))
      staging.writeNow(gap, 0, Buffer.from("01234"))
      expect([staging.stageNow(long), staging.stageNow(gap)]).toEqual([5, 5])
      expect(names(base)).toEqual([])
    }))

  it.scoped("the entries under a directory that is missing here are looked up with one walk a pass, not one each", () =>
    Effect.gen(function*() {
      const { journal, store } = yield* setup
      let walks = 0
      const counted: FileStore.FileStoreShape = { ...store, openParentNow: (op, rel, create) => (walks++, store.openParentNow(op, rel, create)) }
      const staging = Staging.make(counted, { keepSetId: false, journalDir: journal, take: () => true, give: () => {}, notice: () => {}, held: Staging.heldBudget(Infinity) })
      const entries = Array.from({ length: 20 }, (_, i) => file(`new/d/f${i}`, `contents ${i}`))
      expect(staging.passNow(() => entries.map((e) => staging.lookupNow(e)))).toEqual(entries.map(() => "contents"))
      expect(walks).toBe(1)
      // the next pass looks again: the directory may have come meanwhile
      expect(staging.passNow(() => staging.lookupNow(file("new/d/g", "g")))).toBe("contents")
      expect(walks).toBe(2)
    }))
})
