/**
 * On start, the temp files a killed daemon left under the base are removed: a file half-received when the process
 * died never replaced the old one (that only happens at commit), but its temp file would stay forever. The sweep
 * runs in the background, a few directories per turn of the event loop, so the daemon serves at once; only temp
 * names unchanged since before this process started are touched, never one a transfer of ours is writing.
 */
import { Effect, Layer } from "effect"
import * as FileStore from "../store/FileStore.js"
import { tempFiles } from "../store/staleTemps.js"
import { yieldToEventLoop } from "../yieldToEventLoop.js"

/** Directories read per turn of the event loop. */
const DIRECTORIES_PER_TURN = 32
/** Removals and problems logged one by one; the rest are only counted in the summary. */
const LOGGED = 10

export const sweepStaleTemps = (before: number) =>
  Effect.gen(function*() {
    const store = yield* FileStore.FileStore
    let removed = 0
    let problems = 0
    let directories = 0
    for (const item of tempFiles(store)) {
      switch (item._tag) {
        case "Directory":
          if (++directories % DIRECTORIES_PER_TURN === 0) yield* yieldToEventLoop
          break
        case "Temp": {
          const done = store.removeStaleTempNow(item.rel, before)
          if (done instanceof FileStore.StoreError) {
            if (++problems <= LOGGED) yield* Effect.logWarning(`stale temp file not removed: ${done.message}`)
          } else if (done) {
            if (++removed <= LOGGED) yield* Effect.logInfo(`removed ${item.rel}: a temp file left by a daemon that stopped mid-transfer`)
          }
          break
        }
        case "Problem":
          if (++problems <= LOGGED) yield* Effect.logWarning(`looking for stale temp files: ${item.error.message}`)
          break
        default:
          item satisfies never
      }
    }
    if (removed > 0 || problems > 0) {
      yield* Effect.logInfo(`stale temp files: ${removed} removed in ${directories} directories, ${problems} problems`)
    }
    return { removed, problems, directories }
  })

/**
 * The sweep, forked for the daemon's lifetime; `before` is this process's start (its own temp files are newer).
 * `first` runs before it: the switches a crash cut off are finished, or the sweep would remove the temps they
 * rename.
 */
export const layer = <R>(first: Effect.Effect<void, never, R>) =>
  Layer.scopedDiscard(Effect.andThen(first, Effect.forkScoped(sweepStaleTemps(performance.timeOrigin))))
