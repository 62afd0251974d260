/**
 * The calls per staged small file, by the addon (`native/makuo_stage.c`) and by the `node:fs` fallback alike. A
 * temp made in one go: the same file (contents, mode with setid bits, times, owner), only a new entry (an existing
 * file or a planted symlink at the name is left as it is: EEXIST), nothing left behind on a failure. A rename in
 * one directory: the temp over the target, the errno of what stands in the way.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { createRequire, syncBuiltinESMExports } from "node:module"
import { join } from "node:path"
import {
  addonCreateFile,
  addonRenameAll,
  addonRenameAt,
  addonStatNames,
  type CreateFile,
  createFileByFs,
  type FileSpec,
  type RenameAll,
  renameAllByFs,
  type RenameAt,
  renameAtByFs,
  STAT,
  STAT_FIELDS,
  type StatNames,
  statNamesByFs
} from "../../src/store/stageCalls.js"
import { decodeName } from "../../src/protocol/text.js"

const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0
const spec = (mode: number): FileSpec => ({ mode, uid, gid, chown: uid === 0, sec: 1_700_000_000, nsec: 123_456_789 })

const inDir = <A>(f: (dir: string, fd: number) => A): A => {
  const dir = fs.mkdtempSync(join(process.env["TMPDIR"] ?? "/tmp", "makuo-create-"))
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY)
  try {
    return f(dir, fd)
  } finally {
    fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const addon = addonCreateFile()
const engines: ReadonlyArray<readonly [string, CreateFile | undefined]> = [["node:fs", createFileByFs], ["the addon", addon]]

describe.each(engines)("a staged small file's temp made by %s", (_, create) => {
  it.skipIf(create === undefined)("has the contents, mode (setid bits too), owner and times asked for", () =>
    inDir((dir, fd) => {
      const bytes = Buffer.from("the contents of a small file")
      for (const [name, mode] of [["plain", 0o644], ["owner-only", 0o600], ["setuid", 0o4755], ["empty", 0o640]] as const) {
        expect(create!(fd, name, name === "empty" ? new Uint8Array(0) : bytes, spec(mode))).toBe(0)
        const st = fs.statSync(join(dir, name), { bigint: true })
        expect(fs.readFileSync(join(dir, name)).equals(name === "empty" ? Buffer.alloc(0) : bytes)).toBe(true)
        expect(Number(st.mode & 0o7777n)).toBe(mode)
        expect([Number(st.uid), Number(st.gid)]).toEqual([uid, gid])
        // to the microsecond (node:fs sets times through a double of seconds)
        expect(st.mtimeNs / 1000n).toBe(1_700_000_000_123_456n)
        expect(st.atimeNs / 1000n).toBe(1_700_000_000_123_456n)
      }
    }))

  it.skipIf(create === undefined)("makes a name that is not UTF-8 by its own bytes", () =>
    inDir((dir, fd) => {
      const raw = Buffer.from([0x6e, 0xff, 0x2e, 0x74])
      const name = decodeName(raw)!
      expect(create!(fd, name, Buffer.from("x"), spec(0o644))).toBe(0)
      expect(fs.readdirSync(dir, "buffer")).toEqual([raw])
    }))

  it.skipIf(create === undefined)("never replaces nor follows what is at the name: EEXIST, the file and the link's target untouched", () =>
    inDir((dir, fd) => {
      fs.writeFileSync(join(dir, "there"), "kept")
      fs.writeFileSync(join(dir, "target"), "outside")
      fs.symlinkSync(join(dir, "target"), join(dir, "planted"))
      expect(create!(fd, "there", Buffer.from("new"), spec(0o644))).toBe(17)
      expect(create!(fd, "planted", Buffer.from("new"), spec(0o644))).toBe(17)
      expect(fs.readFileSync(join(dir, "there"), "utf8")).toBe("kept")
      expect(fs.readFileSync(join(dir, "target"), "utf8")).toBe("outside")
      expect(fs.lstatSync(join(dir, "planted")).isSymbolicLink()).toBe(true)
    }))

  it.skipIf(create === undefined)("a failure after the create (an owner it may not give) leaves no temp behind", () =>
    inDir((dir, fd) => {
      // only root gives files away: asked to as another user, the chown fails (EPERM); as root, to a directory
      // descriptor that is no directory: ENOTDIR before anything is made
      if (uid === 0) {
        const file = fs.openSync(join(dir, "f"), "w")
        try {
          expect(create!(file, "x", Buffer.from("x"), spec(0o644))).toBe(20)
        } finally {
          fs.closeSync(file)
        }
        expect(fs.readdirSync(dir)).toEqual(["f"])
      } else {
        expect(create!(fd, "x", Buffer.from("x"), { ...spec(0o644), uid: uid + 1, chown: true })).toBe(1)
        expect(fs.readdirSync(dir)).toEqual([])
      }
    }))
})

const renames: ReadonlyArray<readonly [string, RenameAt | undefined]> = [["node:fs", renameAtByFs], ["the addon", addonRenameAt()]]

describe.each(renames)("a rename in one directory by %s", (_, rename) => {
  it.skipIf(rename === undefined)("puts the temp over the target, names that are not UTF-8 too; ENOENT once it is done", () =>
    inDir((dir, fd) => {
      fs.writeFileSync(join(dir, "t.makuo000000001"), "new")
      fs.writeFileSync(join(dir, "f"), "old")
      expect(rename!(fd, "t.makuo000000001", "f")).toBe(0)
      expect(fs.readdirSync(dir)).toEqual(["f"])
      expect(fs.readFileSync(join(dir, "f"), "utf8")).toBe("new")
      expect(rename!(fd, "t.makuo000000001", "f")).toBe(2)
      const raw = Buffer.from([0x6e, 0xff])
      expect(rename!(fd, "f", decodeName(raw)!)).toBe(0)
      expect(fs.readdirSync(dir, "buffer")).toEqual([raw])
    }))

  it.skipIf(rename === undefined)("answers the errno of a directory in a file's way (EISDIR) and of a full directory (ENOTEMPTY), changing nothing", () =>
    inDir((dir, fd) => {
      fs.writeFileSync(join(dir, "temp"), "file")
      fs.mkdirSync(join(dir, "d/x"), { recursive: true })
      fs.mkdirSync(join(dir, "e"))
      expect(rename!(fd, "temp", "d")).toBe(21)
      expect(rename!(fd, "e", "d")).toBe(39)
      expect(fs.readdirSync(dir).sort()).toEqual(["d", "e", "temp"])
    }))
})

const stats: ReadonlyArray<readonly [string, StatNames | undefined]> = [["node:fs", statNamesByFs], ["the addon", addonStatNames()]]

describe.each(stats)("the lstat of many names in one directory by %s", (_, stat) => {
  it.skipIf(stat === undefined)("gives each name's errno, type, mode, owner, size and mtime to the nanosecond, a symlink's own; names that are not UTF-8 too", () =>
    inDir((dir, fd) => {
      fs.writeFileSync(join(dir, "file"), "twelve bytes")
      fs.chmodSync(join(dir, "file"), 0o4751)
      fs.utimesSync(join(dir, "file"), 1_700_000_000.5, 1_700_000_000.5)
      fs.mkdirSync(join(dir, "dir"))
      fs.symlinkSync("/nowhere", join(dir, "link"))
      const raw = Buffer.from([0x6e, 0xff])
      fs.writeFileSync(Buffer.concat([Buffer.from(dir + "/"), raw]), "x")
      const names = ["file", "gone", "dir", "link", decodeName(raw)!]
      const fields = new Float64Array(names.length * STAT_FIELDS).fill(-1)
      stat!(fd, names, fields)
      const at = (i: number) => Array.from(fields.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS))
      for (const [i, name] of names.entries()) {
        if (name === "gone") {
          expect(at(i)[STAT.errno]).toBe(2)
          continue
        }
        const st = fs.lstatSync(i === 4 ? Buffer.concat([Buffer.from(dir + "/"), raw]) : join(dir, name), { bigint: true })
        expect(at(i), name).toEqual([0, Number(st.mode), Number(st.uid), Number(st.gid), Number(st.size), Number(st.mtimeNs / 1_000_000_000n), Number(st.mtimeNs % 1_000_000_000n)])
      }
      expect(at(0)[STAT.mode]! & 0o7777).toBe(0o4751)
      expect(at(0)[STAT.mtimeNsec]).toBe(500_000_000)
    }))
})

const renameAlls: ReadonlyArray<readonly [string, RenameAll | undefined]> = [["node:fs", renameAllByFs], ["the addon", addonRenameAll()]]

describe.each(renameAlls)("the renames of many pairs in one directory by %s", (_, renameAll) => {
  it.skipIf(renameAll === undefined)("renames each pair in order and gives each its own errno: a later pair is tried after an earlier one fails", () =>
    inDir((dir, fd) => {
      for (const name of ["a.makuo1", "b.makuo1", "c.makuo1"]) fs.writeFileSync(join(dir, name), name)
      fs.mkdirSync(join(dir, "b"))
      fs.writeFileSync(join(dir, "b", "inside"), "")
      const errnos = new Int32Array(4).fill(-1)
      renameAll!(fd, ["a.makuo1", "a", "b.makuo1", "b", "missing", "m", "c.makuo1", "c"], errnos)
      expect(Array.from(errnos)).toEqual([0, 21, 2, 0])
      expect(fs.readdirSync(dir).sort()).toEqual(["a", "b", "b.makuo1", "c"])
      expect(fs.readFileSync(join(dir, "c"), "utf8")).toBe("c.makuo1")
    }))
})

describe("the addon's calls", () => {
  const rename = addonRenameAt()
  it.skipIf(addon === undefined || rename === undefined)("refuse a negative directory descriptor (AT_FDCWD, -100): nothing is made or renamed in the working directory", () =>
    inDir((dir) => {
      const cwd = process.cwd()
      process.chdir(dir)
      try {
        expect(addon!(-100, "made", Buffer.from("x"), spec(0o644))).toBe(22)
        fs.writeFileSync(join(dir, "from"), "x")
        expect(rename!(-100, "from", "to")).toBe(22)
        expect(fs.readdirSync(dir)).toEqual(["from"])
      } finally {
        process.chdir(cwd)
      }
    }))
})

describe("the addon's names", () => {
  const rename = addonRenameAt()
  it.skipIf(addon === undefined || rename === undefined)("refuse \".\" and \"..\" (the directory itself, its parent: never an entry of it): EINVAL, nothing changed", () =>
    inDir((dir, fd) => {
      fs.writeFileSync(join(dir, "from"), "x")
      for (const name of [".", ".."]) {
        expect(addon!(fd, name, Buffer.from("x"), spec(0o644))).toBe(22)
        expect(rename!(fd, "from", name)).toBe(22)
        expect(rename!(fd, name, "to")).toBe(22)
      }
      expect(fs.readdirSync(dir)).toEqual(["from"])
    }))
})

describe("the node:fs fallback", () => {
  it("sets only the owner and mode the new file lacks: none for the daemon's own owner and the create's mode 0600", () =>
    inDir((_, fd) => {
      const cjs = createRequire(import.meta.url)("node:fs") as Record<string, unknown>
      const names = ["fchownSync", "fchmodSync"] as const
      const originals = names.map((name) => [name, cjs[name] as (...args: ReadonlyArray<unknown>) => unknown] as const)
      const counts: Record<string, number> = { fchownSync: 0, fchmodSync: 0 }
      for (const [name, original] of originals) cjs[name] = (...args: ReadonlyArray<unknown>) => (counts[name]!++, original(...args))
      syncBuiltinESMExports()
      try {
        expect(createFileByFs(fd, "same", Buffer.from("as made"), spec(0o600))).toBe(0)
        expect(counts).toEqual({ fchownSync: 0, fchmodSync: 0 })
        expect(createFileByFs(fd, "other", Buffer.from("group readable"), spec(0o640))).toBe(0)
        expect(counts).toEqual({ fchownSync: 0, fchmodSync: 1 })
      } finally {
        for (const [name, original] of originals) cjs[name] = original
        syncBuiltinESMExports()
      }
    }))
})
