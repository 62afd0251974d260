/** Sample trees and tree comparison, shared by the demo, the benchmark and the tests. */
import * as fs from "node:fs"
import { join } from "node:path"
import { sha256 } from "../../src/sha256.js"

/** Small files in nested dirs with odd modes and old times, an empty file, a symlink and one big file. */
export const makeSampleTree = (root: string, files: number, bigMiB: number) => {
  let x = 42
  fs.mkdirSync(root, { recursive: true })
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0)
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${i % 7}`, `s${i % 3}`)
    fs.mkdirSync(dir, { recursive: true })
    const p = join(dir, `f${i}.txt`)
    fs.writeFileSync(p, Buffer.alloc(1024 + (rnd() % 3072), i % 251))
    fs.chmodSync(p, [0o644, 0o600, 0o755][i % 3]!)
    fs.utimesSync(p, 1_700_000_000 + i, 1_700_000_000 + i)
  }
  if (bigMiB > 0) {
    const fd = fs.openSync(join(root, "big.bin"), "w")
    const chunk = Buffer.alloc(1 << 20)
    for (let i = 0; i < bigMiB; i++) {
      for (let k = 0; k < chunk.length; k += 4) chunk.writeUInt32LE(rnd(), k)
      fs.writeSync(fd, chunk)
    }
    fs.closeSync(fd)
  }
  fs.writeFileSync(join(root, "empty"), "")
  fs.symlinkSync("d0/s0/f0.txt", join(root, "link"))
  // directories get old times too, deepest first (a later entry would touch its parent's): a receiver that made
  // one as the parent of a file, in the same second, would otherwise find it up to date by chance
  for (let d = 0; d < Math.min(files, 7); d++) {
    for (let s = 0; s < Math.min(files, 3); s++) {
      const dir = join(root, `d${d}`, `s${s}`)
      if (fs.existsSync(dir)) fs.utimesSync(dir, 1_650_000_000 + s, 1_650_000_000 + s)
    }
    fs.utimesSync(join(root, `d${d}`), 1_650_000_000 + 10 + d, 1_650_000_000 + 10 + d)
  }
  fs.utimesSync(root, 1_650_000_000, 1_650_000_000)
}

/** Every entry below `dir`: type, mode, mtime, content or link target, by relative path. */
export const describeTree = (dir: string): Map<string, string> => {
  const out = new Map<string, string>()
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(join(dir, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`
      const st = fs.lstatSync(join(dir, r))
      const mode = (st.mode & 0o7777).toString(8)
      const mtime = Math.floor(st.mtimeMs / 1000)
      if (st.isSymbolicLink()) out.set(r, `link -> ${fs.readlinkSync(join(dir, r))}`)
      else if (st.isDirectory()) {
        walk(r)
        out.set(r, `dir ${mode} ${mtime}`)
      } else out.set(r, `file ${mode} ${mtime} ${st.size} ${Buffer.from(sha256(fs.readFileSync(join(dir, r)))).toString("hex", 0, 8)}`)
    }
  }
  walk("")
  return out
}

/** The entries of `sender` whose description differs on `receiver` (what a send must have made equal). */
export const differences = (sender: Map<string, string>, receiver: Map<string, string>): ReadonlyArray<string> =>
  [...sender].filter(([k, v]) => receiver.get(k) !== v).map(([k, v]) => `${k}: want ${v}, got ${receiver.get(k) ?? "nothing"}`)

export const tempFiles = (d: Map<string, string>): ReadonlyArray<string> => [...d.keys()].filter((k) => /\.makuo\d+$/.test(k))
