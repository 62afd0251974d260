import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { makeExclude } from "../../src/store/exclude.js"
import * as FileStore from "../../src/store/FileStore.js"
import { type ScanItem, walk } from "../../src/store/scan.js"

const setup = Effect.gen(function*() {
  const base = join(yield* tempDir, "base")
  for (const dir of ["a/b", "ex/in", "u/v"]) fs.mkdirSync(join(base, dir), { recursive: true })
  for (const file of ["a/x", "a/y", "a/b/z", "c", "e.tmp", "ex/in/f", "u/w", "u/v/f"]) fs.writeFileSync(join(base, file), file)
  return { base, store: yield* FileStore.make(base) }
})

const shown = (items: Iterable<ScanItem>) =>
  [...items].map((i) => (i._tag === "Entry" ? `${i.rel}${i.entry.kind === "directory" ? "/" : ""}` : `${i._tag} ${i.rel}`))

describe("the sender's walk", () => {
  it.scoped("goes depth first in name order, each directory after its contents; excluded paths are neither listed nor descended into", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      const exclude = makeExclude(base, ["*.tmp", "ex"])
      expect(shown(walk(store, { paths: [], recursive: true, exclude }))).toEqual(["a/b/z", "a/b/", "a/x", "a/y", "a/", "c", "u/v/f", "u/v/", "u/w", "u/"])
      expect(shown(walk(store, { paths: ["a/b", "gone", "c", "e.tmp", "."], recursive: true, exclude }))).toEqual(
        ["a/b/z", "a/b/", "Missing gone", "c", "a/b/z", "a/b/", "a/x", "a/y", "a/", "c", "u/v/f", "u/v/", "u/w", "u/"]
      )
      // without -r: the named entries themselves, a directory too, and nothing for the base
      expect(shown(walk(store, { paths: ["a", "e.tmp", "."], recursive: false, exclude }))).toEqual(["a/", "e.tmp"])
    }))

  it.scoped("a directory that cannot be listed is a problem followed by its own entry; the walk goes on after it", () =>
    Effect.gen(function*() {
      const { base, store } = yield* setup
      const refused = new FileStore.StoreError({ op: "readdir", path: "u/v", code: "EACCES", errno: 13, detail: "EACCES (permission denied)" })
      const failing = { ...store, listNow: (rel: string) => (rel === "u/v" || rel === "a" ? refused : store.listNow(rel)) }
      expect(shown(walk(failing, { paths: [], recursive: true, exclude: makeExclude(base, []) }))).toEqual(
        ["Problem a", "a/", "c", "e.tmp", "ex/in/f", "ex/in/", "ex/", "Problem u/v", "u/v/", "u/w", "u/"]
      )
      expect(shown(walk(failing, { paths: ["a"], recursive: true, exclude: makeExclude(base, []) }))).toEqual(["Problem a", "a/"])
    }))
})
