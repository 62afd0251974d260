/**
 * The sender's lazy walk of the tree: depth first, each directory after its contents (so its mode and times are
 * applied last, makuosan-v7.md §11), names in sorted order. Only the open directories' listings are held, never the tree.
 * An unreadable entry is a `Problem` in the stream, not the end of the walk.
 */
import { Option, Stream } from "effect"
import type { Exclude } from "./exclude.js"
import { type FileStoreShape, type LocalEntry, StoreError } from "./FileStore.js"

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

/** The walk itself, for a consumer that pulls one item at a time (the send engine's window). */
export function* walk(store: FileStoreShape, options: ScanOptions): Generator<ScanItem> {
  /** A path the user named. */
  function* visit(rel: string): Generator<ScanItem> {
    const found = store.inspectNow(rel)
    if (found instanceof StoreError) return yield { _tag: "Problem", rel, message: found.message }
    if (Option.isNone(found)) return yield { _tag: "Missing", rel }
    yield* entry(rel, found.value)
  }

  function* entry(rel: string, entry: LocalEntry): Generator<ScanItem> {
    const directory = entry.kind === "directory"
    if (options.recursive && options.exclude.excludes(rel, directory)) return
    if (directory && options.recursive) yield* children(rel)
    yield { _tag: "Entry", rel, entry }
  }

  function* children(rel: string): Generator<ScanItem> {
    const listed = store.listNow(rel)
    if (listed instanceof StoreError) return yield { _tag: "Problem", rel, message: listed.message }
    for (const { name, entry: e } of listed) {
      const path = rel === "." ? name : `${rel}/${name}`
      // the temp file of a transfer in flight here is not content; a file merely named like one is
      if (!store.isLiveTemp(path)) yield* entry(path, e)
    }
  }

  if (options.paths.length === 0) {
    if (options.recursive) yield* children(".")
    return
  }
  for (const rel of options.paths) {
    if (rel === ".") {
      if (options.recursive) yield* children(".")
    } else yield* visit(rel)
  }
}

export const scan = (store: FileStoreShape, options: ScanOptions): Stream.Stream<ScanItem> =>
  Stream.suspend(() => Stream.fromIterable(walk(store, options)))
