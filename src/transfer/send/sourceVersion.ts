/**
 * Whether the source of a transfer stayed one version of the file. The members commit what they received with the
 * size and mtime the STAT announced, so the blocks must all come from the file as it was announced: a file written
 * while it is read (appended, part overwritten) would leave the members with neither version.
 */
import type { FileVersion } from "../../store/FileStore.js"
import type { Mstat } from "./receiveMachine.js"

const NS_PER_S = 1_000_000_000n

/**
 * Why the file just opened is not the one scanned, or undefined: its size, or its ctime (whole seconds, as the STAT
 * carries it; any write moves it, and unlike mtime it cannot be set back). A write within the second of the scan
 * leaves the members a whole file whose size and mtime, as the wire carries them, are the file's.
 */
export const differsFromAnnounced = (mstat: Mstat, opened: FileVersion): string | undefined => {
  if (opened.size !== mstat.size) return `size ${mstat.size} when scanned, ${opened.size} when opened`
  const ctime = opened.ctimeNs < 0n ? 0 : Number(opened.ctimeNs / NS_PER_S)
  return Math.min(ctime, 0xffff_ffff) === mstat.ctime ? undefined : "modified between the scan and the transfer"
}

/** Why `now` is not the version `before` was, or undefined. */
export const changedSince = (before: FileVersion, now: FileVersion): string | undefined => {
  if (now.size !== before.size) return `size ${before.size} when opened, ${now.size} after sending`
  if (now.mtimeNs !== before.mtimeNs || now.ctimeNs !== before.ctimeNs) return "modified during the transfer"
  return undefined
}
