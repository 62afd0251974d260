/**
 * A member's comparison of its own copy of a manifest's file with the entry, by contents (docs/transactions.md):
 * for a check, and for a send under `--checksum`. The file is found through the store's confined walk (a
 * symlinked parent is refused, never followed), its size compared first, then its SHA-256, hashed in chunks
 * with a turn of the event loop between them, one descriptor taken from the daemon's budget while it is open.
 * Nothing here changes the disk.
 */
import { Effect, Either, Option } from "effect"
import type { FileStoreShape } from "../../store/FileStore.js"
import { StoreError } from "../../store/FileStore.js"
import { splitRelative } from "../../store/paths.js"
import type { Finding } from "./memberMachine.js"
import type { Entry } from "./messages.js"
import { equalBytes } from "../../domain/bytes.js"
import { EACCES, EISDIR, EMFILE } from "../../protocol/errno.js"

/** Holds one descriptor of the daemon's budget while a file is hashed. */
export interface Descriptors {
  readonly take: () => boolean
  readonly give: () => void
}

/**
 * What is here at the entry's path against the entry: the same contents, other contents (another size or
 * SHA-256), no file, or the errno that kept it unread (a path refused; not a regular file: EISDIR, as v7's
 * check answers). An entry that is not a file has no contents to compare: the same.
 */
export const compareFile = (store: FileStoreShape, entry: Entry, descriptors: Descriptors): Effect.Effect<Finding> =>
  Effect.suspend((): Effect.Effect<Finding> => {
    if (entry.type !== "file") return Effect.succeed("same")
    if (Either.isLeft(splitRelative(entry.path))) return Effect.succeed({ errno: EACCES })
    const found = store.inspectNow(entry.path)
    if (found instanceof StoreError) return Effect.succeed({ errno: found.errno })
    if (Option.isNone(found)) return Effect.succeed("missing")
    if (found.value.kind !== "file") return Effect.succeed({ errno: EISDIR })
    if (found.value.size !== entry.size) return Effect.succeed("differs")
    if (!descriptors.take()) return Effect.succeed({ errno: EMFILE })
    return store.digest(entry.path, "sha256").pipe(
      Effect.map((d): Finding => (entry.digest !== undefined && equalBytes(d, entry.digest) ? "same" : "differs")),
      Effect.catchAll((e) => Effect.succeed<Finding>({ errno: e.errno })),
      Effect.ensuring(Effect.sync(descriptors.give))
    )
  })

/**
 * Under `--checksum`: whether the file here has the entry's contents (true), other contents or unreadable ones
 * (false: they are sent), or undefined when no regular file is here (the lookup decides as it would anyway).
 */
export const sameContents = (store: FileStoreShape, entry: Entry, descriptors: Descriptors): Effect.Effect<boolean | undefined> =>
  Effect.map(compareFile(store, entry, descriptors), (f) => (f === "same" ? true : f === "missing" ? undefined : false))
