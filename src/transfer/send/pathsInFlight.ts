/**
 * The paths of a job's transfers that are open or waiting, so a directory starts only once nothing below it is in
 * flight: its mode and times are applied after its contents (makuosan-v7.md §11), or writing them would change its mtime.
 */
export interface PathsInFlight {
  readonly add: (path: string) => void
  readonly remove: (path: string) => void
  /** Whether anything strictly below `dir` is in flight. */
  readonly busyBelow: (dir: string) => boolean
  readonly isEmpty: () => boolean
}

export const makePathsInFlight = (): PathsInFlight => {
  // counted: `sync` of a path and a later send of the same path may overlap
  const paths = new Map<string, number>()
  return {
    add: (path) => void paths.set(path, (paths.get(path) ?? 0) + 1),
    remove: (path) => {
      const n = (paths.get(path) ?? 1) - 1
      if (n === 0) paths.delete(path)
      else paths.set(path, n)
    },
    busyBelow: (dir) => {
      const prefix = dir + "/"
      for (const p of paths.keys()) if (p !== dir && (dir === "." || p.startsWith(prefix))) return true
      return false
    },
    isEmpty: () => paths.size === 0
  }
}
