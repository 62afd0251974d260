/**
 * The parent directories opened during one synchronous pass over many entries (a manifest batch's lookups, the
 * writes of one arrival, a switch), kept by directory and reused: one confined walk from the base per directory
 * instead of one per entry (a walk costs an `open` per component; a tree of small files spent most of a member's
 * system time in them). Only existing directories are kept (a walk that creates, or fails, is never reused), and
 * nothing outlives the pass: a descriptor kept across turns of the event loop would keep addressing a directory
 * that was moved meanwhile, where a fresh walk refuses what is no longer under the base.
 */
import { Either } from "effect"
import { closeQuietly, type FileStoreShape, type Parent, StoreError } from "./FileStore.js"
import { isPlainRelative, splitRelative } from "./paths.js"

export interface ParentCache {
  /** `store.openParentNow(op, rel, false)`, reused when `rel`'s directory was opened during the pass. */
  readonly openNow: (op: string, rel: string) => Parent | StoreError
  /** Closes `parent` unless it is kept for the pass. */
  readonly release: (parent: Parent) => void
  /** The pass is over: closes every directory kept. */
  readonly closeAll: () => void
}

export const make = (store: Pick<FileStoreShape, "openParentNow">): ParentCache => {
  const kept = new Map<string, number>()
  const fds = new Set<number>()
  return {
    openNow: (op, rel) => {
      // `rel` as spelled (staging's and the journal's are joined from their split components): its directory
      // found as kept needs only its last component checked, not the whole path split again
      const slash = rel.lastIndexOf("/")
      const found = kept.get(slash < 0 ? "" : rel.slice(0, slash))
      if (found !== undefined) {
        const name = rel.slice(slash + 1)
        // a plain name (every name of the bench's trees, most of any) is checked without splitting it again
        if (isPlainRelative(name)) return { fd: found, name, rel }
        const one = splitRelative(name)
        if (Either.isRight(one) && one.right.length === 1 && one.right[0] === name) return { fd: found, name, rel }
      }
      const split = splitRelative(rel)
      if (Either.isLeft(split) || split.right.length === 0) return store.openParentNow(op, rel, false)
      const parts = split.right
      const dir = parts.slice(0, -1).join("/")
      const fd = kept.get(dir)
      if (fd !== undefined) return { fd, name: parts.at(-1)!, rel: parts.join("/") }
      const parent = store.openParentNow(op, rel, false)
      if (!(parent instanceof StoreError)) kept.set(dir, parent.fd), fds.add(parent.fd)
      return parent
    },
    release: (parent) => {
      if (!fds.has(parent.fd)) closeQuietly(parent.fd)
    },
    closeAll: () => {
      if (fds.size === 0) return
      for (const fd of fds) closeQuietly(fd)
      kept.clear()
      fds.clear()
    }
  }
}

/** Runs `f` with a cache for its pass, closed afterwards whatever `f` does. */
export const withParentCache = <A>(store: Pick<FileStoreShape, "openParentNow">, f: (parents: ParentCache) => A): A => {
  const parents = make(store)
  try {
    return f(parents)
  } finally {
    parents.closeAll()
  }
}
