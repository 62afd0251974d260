/**
 * The temp files a previous run left behind (a daemon killed mid-file): found by name under the base, depth first,
 * never through a symlink. A walk the caller pulls at its own pace (one `Directory` item per listing read), so a
 * large tree never blocks the daemon.
 */
import { type FileStoreShape, isTempName, StoreError } from "./FileStore.js"

export type TempItem =
  | { readonly _tag: "Directory"; readonly rel: string }
  | { readonly _tag: "Temp"; readonly rel: string }
  | { readonly _tag: "Problem"; readonly error: StoreError }

export function* tempFiles(store: FileStoreShape, dir = "."): Generator<TempItem> {
  const listed = store.listKindsNow(dir)
  if (listed instanceof StoreError) return yield { _tag: "Problem", error: listed }
  yield { _tag: "Directory", rel: dir }
  for (const { directory, name } of listed) {
    const rel = dir === "." ? name : `${dir}/${name}`
    if (directory) yield* tempFiles(store, rel)
    else if (isTempName(name)) yield { _tag: "Temp", rel }
  }
}
