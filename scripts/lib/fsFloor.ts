/**
 * What the filesystem itself costs per new small file, measured beside a member's base in the same run: the
 * calls a member makes to stage and switch one (a temp opened O_EXCL, the content written, mode, owner and times
 * set through the descriptor, closed, renamed over its name), from Node's synchronous calls, as the process's user
 * and system CPU. The bench prints a member's CPU per file beside it, because on the lab's disk it is neither
 * small nor steady: ext4 without a journal (the lab VM's) looks up the inode table block of every free inode it
 * might hand out (`recently_deleted`) and skips those freed in the last minute (five while that block is not yet
 * written back), so a file created after thousands were replaced or removed (the bench's rsync and UFTP rounds,
 * earlier rows) costs several times one created on a quiet disk (docs/performance.md, "The filesystem's floor").
 *
 * The files are left where they are: removing them would free inodes for the next row's members to skip.
 */
import * as fs from "node:fs"
import { join } from "node:path"

/** The layout of the bench's small tree: 21 directories of ~95 files of 1-4 KiB. */
const DIRECTORIES = 21

/** CPU microseconds (user + system) per file of `files` made under `dir` (a new directory, on the member's filesystem). */
export const creationFloor = (dir: string, files: number): number => {
  fs.mkdirSync(dir)
  const dirs = Array.from({ length: DIRECTORIES }, (_, i) => join(dir, `d${i}`))
  for (const d of dirs) fs.mkdirSync(d)
  const content = Buffer.alloc(4096, 7)
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const flags = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW
  const before = process.cpuUsage()
  for (let i = 0; i < files; i++) {
    const target = join(dirs[i % DIRECTORIES]!, `f${i}`)
    const temp = `${target}.tmp`
    const fd = fs.openSync(temp, flags, 0o600)
    fs.writeSync(fd, content, 0, 1024 + ((i * 1499) % 3072), 0)
    fs.fchmodSync(fd, 0o644)
    fs.fchownSync(fd, uid, gid)
    fs.futimesSync(fd, 1_700_000_000, 1_700_000_000)
    fs.closeSync(fd)
    fs.renameSync(temp, target)
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / files
}
