/**
 * makuosan's update rule (makuosan-v7.md §5.2.5, `common.c:statcmp`), first match wins. Ownership counts only when this
 * daemon can set it (effective uid 0; makuosan also counts egid 0, which makes files UPDATE forever: makuosan-v7.md E25).
 */
import { Option } from "effect"
import { RecvState, type RecvStateValue } from "../../protocol/v7/constants.js"
import type { LocalEntry } from "../../store/FileStore.js"
import { kindOf } from "../../store/listing.js"
import type { Mstat } from "./receiveMachine.js"

export const decide = (mstat: Mstat, local: Option.Option<LocalEntry>, root: boolean): RecvStateValue => {
  if (Option.isNone(local)) return RecvState.UPDATE
  const l = local.value
  const kind = kindOf(mstat.mode)
  if (kind === "symlink") return l.kind === "symlink" && l.linkTarget === mstat.linkTarget ? RecvState.SKIP : RecvState.UPDATE
  if (l.mtime !== mstat.mtime) return RecvState.UPDATE
  if (root && ((l.uid & 0xffff) !== mstat.uid || (l.gid & 0xffff) !== mstat.gid)) return RecvState.UPDATE
  if (kind === "directory" && l.kind === "directory") return l.mode === mstat.mode ? RecvState.SKIP : RecvState.UPDATE
  if (kind === "file" && l.kind === "file") {
    return l.mode === mstat.mode && l.size === mstat.size ? RecvState.SKIP : RecvState.UPDATE
  }
  const rdev = mstat.rdevHigh * 0x1_0000_0000 + mstat.rdevLow
  return l.mode === mstat.mode && l.rdev === rdev ? RecvState.SKIP : RecvState.UPDATE
}
