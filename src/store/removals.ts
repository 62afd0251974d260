/**
 * A member's scan for removals in a tree transaction under `--delete` (docs/transactions.md, "Removals"): what
 * it has under the job's roots that the sender's manifest lacks, deepest first (a directory after its contents).
 * It removes nothing: the list is journaled and carried out in the switch. The rules the v7 `--delete` keeps on
 * a member, and one more:
 *
 * - every path is reached through the store's confined walk from the base: a symlink is listed (when the
 *   manifest lacks it) as the link itself, never followed, whether it points at a file or a directory;
 * - an excluded path is spared and not descended into (the sender's walk skipped it: the manifest cannot have
 *   it), and so is the temp file or temp directory of a transfer in flight here, and a path longer than a
 *   report can name (`MAX_ENTRY_NAMES`);
 * - a directory that holds anything spared is not removed itself, only what else it holds: a removal never takes
 *   an excluded path with it (the v7 member removes such a directory whole).
 *
 * A directory that cannot be listed fails the scan with its errno (the member votes FAILED, index −1): a
 * partial list would remove less than asked, a guess more.
 */
import { Either, Option } from "effect"
import { MAX_ENTRY_NAMES } from "../protocol/native/transferMessage.js"
import { utf8Length } from "../protocol/text.js"
import type { Exclude } from "./exclude.js"
import { type FileStoreShape, type LocalEntry, StoreError } from "./FileStore.js"
import { EACCES } from "../protocol/errno.js"
import { normalRelative } from "./paths.js"

export interface RemovalScan {
  /** The job's roots, relative to the base; none (or ".") for the whole base. */
  readonly roots: ReadonlyArray<string>
  /** `sync`: each root the manifest lacks is removed itself (whole), nothing below one is listed. */
  readonly named?: boolean
  readonly exclude: Exclude
  /** Whether the manifest has `rel`. */
  readonly inManifest: (rel: string) => boolean
  /** Whether `rel` is the temp of a transfer in flight here (a v7 transfer's or a transaction's). */
  readonly isTemp: (rel: string) => boolean
}

/** The paths to remove, deepest first; or the failure that broke the scan off. */
export const scanRemovalsNow = (store: FileStoreShape, scan: RemovalScan): Array<string> | StoreError => {
  const removals: Array<string> = []

  /** Lists what goes at or below `rel`; true when something there is kept (so its directories stay). */
  const visit = (rel: string, entry: LocalEntry): boolean | StoreError => {
    const directory = entry.kind === "directory"
    if (scan.isTemp(rel) || utf8Length(rel) > MAX_ENTRY_NAMES || scan.exclude.excludes(rel, directory)) return true
    const kept = scan.inManifest(rel)
    const below = directory && scan.named !== true ? children(rel) : false
    if (below instanceof StoreError) return below
    if (kept || below) return true
    removals.push(rel)
    return false
  }

  const children = (rel: string): boolean | StoreError => {
    const listed = store.listNow(rel)
    if (listed instanceof StoreError) return listed
    let kept = false
    for (const { name, entry } of listed) {
      const r = visit(rel === "." ? name : `${rel}/${name}`, entry)
      if (r instanceof StoreError) return r
      kept ||= r
    }
    return kept
  }

  for (const root of scan.roots.length === 0 ? ["."] : scan.roots) {
    const normal = normalRelative(root)
    if (Either.isLeft(normal)) return new StoreError({ op: "scan", path: root, errno: EACCES, code: "EACCES", detail: normal.left.reason })
    const rel = normal.right
    if (rel === ".") {
      if (scan.named === true) continue
      const r = children(".")
      if (r instanceof StoreError) return r
      continue
    }
    const found = store.inspectNow(rel)
    if (found instanceof StoreError) return found
    if (Option.isNone(found)) continue
    const r = visit(rel, found.value)
    if (r instanceof StoreError) return r
  }
  // roots that overlap list a path twice
  return [...new Set(removals)]
}
