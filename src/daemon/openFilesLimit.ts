/**
 * The process's open-files limit (RLIMIT_NOFILE, soft; node raises it to the hard limit at start), from
 * /proc/self/limits; undefined where that cannot be read or says "unlimited".
 */
import * as fs from "node:fs"

export const openFilesLimit = (): number | undefined => {
  try {
    const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
    const soft = line?.split(/\s{2,}/)[1]
    return soft !== undefined && /^\d+$/.test(soft) ? Number(soft) : undefined
  } catch {
    return undefined
  }
}

/** Descriptors kept for everything but received files: sockets, clients, files being sent, directories walked. */
export const RESERVED_DESCRIPTORS = 256

/** How many temp files (two descriptors each) fit beside the reserve under `limit`. */
export const tempFilesWithin = (limit: number) => Math.max(0, Math.floor((limit - RESERVED_DESCRIPTORS) / 2))

/** `--max-temp-files` unless given: 1024, or what fits under a lower limit. */
export const defaultTempFiles = (limit: number | undefined) => (limit === undefined ? 1024 : Math.min(1024, tempFilesWithin(limit)))
