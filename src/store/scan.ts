/**
 * The sender's lazy walk of the tree: depth first, each directory after its contents (so its mode and times are
 * applied last, makuosan-v7.md §11), names in sorted order. Only the open directories' listings are held, never the tree.
 * An unreadable entry is a `Problem` in the stream, not the end of the walk.
 */
import { Option, Stream } from "effect"
import type { Exclude } from "./exclude.js"
import { type FileStoreShape, type LocalEntry, StoreError } from "./FileStore.js"
import type { Listed } from "./listing.js"

export type ScanItem =
  | { readonly _tag: "Entry"; readonly rel: string; readonly entry: LocalEntry }
  /** A path the user named that does not exist here (what `makuo sync` deletes on the members). */
  | { readonly _tag: "Missing"; readonly rel: string }
  | { readonly _tag: "Problem"; readonly rel: string; readonly message: string }

export interface ScanOptions {
  /** Paths relative to the base, already validated; empty with `recursive` = the whole base. */
  readonly paths: ReadonlyArray<string>
  readonly recursive: boolean
  readonly exclude: Exclude
}

/**
 * The walk itself, for a consumer that pulls one item at a time (the send engine's window). One generator for the
 * whole walk and a stack of the directories being listed, so an entry costs its listing's share and its item, no
 * generator of its own.
 */
export function* walk(store: FileStoreShape, options: ScanOptions): Generator<ScanItem> {
  const { recursive, exclude } = options
  /** The directories being listed, innermost last; each one's own entry comes after its contents. */
  const open: Array<{ readonly rel: string; readonly entry: LocalEntry | undefined; readonly listed: ReadonlyArray<Listed>; next: number }> = []

  /** Opens directory `rel` (its entry, or none for the base) for the loop below: a problem when it cannot be listed. */
  const enter = (rel: string, entry: LocalEntry | undefined): ScanItem | undefined => {
    const listed = store.listNow(rel)
    if (listed instanceof StoreError) return { _tag: "Problem", rel, message: listed.message }
    open.push({ rel, entry, listed, next: 0 })
    return undefined
  }

  /** Directory `rel` and everything below it, depth first. */
  function* below(rel: string, entry: LocalEntry | undefined): Generator<ScanItem> {
    const problem = enter(rel, entry)
    if (problem !== undefined) {
      yield problem
      if (entry !== undefined) yield { _tag: "Entry", rel, entry }
    }
    while (open.length > 0) {
      const dir = open[open.length - 1]!
      if (dir.next === dir.listed.length) {
        open.pop()
        if (dir.entry !== undefined) yield { _tag: "Entry", rel: dir.rel, entry: dir.entry }
        continue
      }
      const { name, entry: e } = dir.listed[dir.next++]!
      const path = dir.rel === "." ? name : `${dir.rel}/${name}`
      const directory = e.kind === "directory"
      // the temp file of a transfer in flight here is not content; a file merely named like one is
      if (store.isLiveTemp(path) || exclude.excludes(path, directory)) continue
      const refused = directory ? enter(path, e) : undefined
      if (refused !== undefined) yield refused
      // a directory listed comes when its contents are done; one that could not be listed, after its problem
      if (!directory || refused !== undefined) yield { _tag: "Entry", rel: path, entry: e }
    }
  }

  /** A path the user named. */
  function* visit(rel: string): Generator<ScanItem> {
    if (rel === ".") {
      if (recursive) yield* below(".", undefined)
      return
    }
    const found = store.inspectNow(rel)
    if (found instanceof StoreError) return yield { _tag: "Problem", rel, message: found.message }
    if (Option.isNone(found)) return yield { _tag: "Missing", rel }
    const entry = found.value
    const directory = entry.kind === "directory"
    if (!recursive) yield { _tag: "Entry", rel, entry }
    else if (exclude.excludes(rel, directory)) return
    else if (directory) yield* below(rel, entry)
    else yield { _tag: "Entry", rel, entry }
  }

  for (const rel of options.paths.length === 0 ? ["."] : options.paths) yield* visit(rel)
}

export const scan = (store: FileStoreShape, options: ScanOptions): Stream.Stream<ScanItem> =>
  Stream.suspend(() => Stream.fromIterable(walk(store, options)))
