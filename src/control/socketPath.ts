import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The socket of a daemon run by root (the system's, e.g. from contrib/makuo.service). */
export const SYSTEM_SOCKET = "/run/makuo/makuo.sock"

/** The daemon's `--control` setting and the clients' option say the same. */
export const controlDescription = "Control socket of the daemon. Default: $MAKUO_CONTROL, else 'control =' in the config file ($MAKUO_CONFIG or " +
  "/etc/makuo/makuo.conf, when readable), else /run/makuo/makuo.sock for root; for other users " +
  "$XDG_RUNTIME_DIR/makuo/makuo.sock (or /tmp/makuo-<uid>/makuo.sock), where a daemon of their own listens; " +
  "a client without one of its own uses /run/makuo/makuo.sock."

/** Where a socket goes when neither a flag, `MAKUO_CONTROL` nor the config file names one. */
export type DefaultSocket = (env: NodeJS.ProcessEnv, uid: number) => string

/** The daemon's: `/run/makuo/makuo.sock` for root, the user's private directory for anyone else. */
export const daemonDefaultSocket: DefaultSocket = (env, uid) => join(privateControlDirectory(env, uid) ?? "/run/makuo", "makuo.sock")

/**
 * The client's: root's is the system socket. Another user's is the socket of their own daemon, in their private
 * directory, when one listens there; else the system daemon's, which a member of its `--control-group` may use
 * (`makuo send` without sudo). With neither socket there, the one the user more likely means: their own when
 * their private directory exists (they ran a daemon of their own), else the system's. `present` is lstat's answer.
 */
export const clientDefaultSocket = (present: (path: string) => boolean = lstatPresent): DefaultSocket => (env, uid) => {
  const own = privateControlDirectory(env, uid)
  if (own === undefined) return SYSTEM_SOCKET
  const ownSocket = join(own, "makuo.sock")
  if (present(ownSocket)) return ownSocket
  if (present(SYSTEM_SOCKET)) return SYSTEM_SOCKET
  return present(own) ? ownSocket : SYSTEM_SOCKET
}

const lstatPresent = (path: string) => fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined

/**
 * Where the daemon listens and the CLI connects: `--control PATH`, else `MAKUO_CONTROL`, else what `configured`
 * says (the config file's `control`, read only when it comes to that), else `fallback`'s default.
 */
export const controlSocketPath = (
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.getuid?.() ?? 0,
  configured: () => string | undefined = () => undefined,
  fallback: DefaultSocket = daemonDefaultSocket
): string => {
  if (flag !== undefined && flag !== "") return flag
  if (env.MAKUO_CONTROL !== undefined && env.MAKUO_CONTROL !== "") return env.MAKUO_CONTROL
  return configured() ?? fallback(env, uid)
}

/**
 * The default socket directory of a user other than root: `$XDG_RUNTIME_DIR/makuo`, else `/tmp/makuo-<uid>`, a
 * name any local user can create first in a shared /tmp. Undefined for root, whose default lies under /run.
 */
export const privateControlDirectory = (env: NodeJS.ProcessEnv, uid: number): string | undefined => {
  if (uid === 0) return undefined
  if (env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== "") return join(env.XDG_RUNTIME_DIR, "makuo")
  return join(tmpdir(), `makuo-${uid}`)
}

/**
 * Who may own a socket's directory. Another user who created it (or a symlink in its place), or who may write
 * into it, can put their own socket there: a client would send it our requests, a daemon would have its socket
 * swapped. A sticky directory writable by others (as /tmp) lets nobody replace another user's entry.
 */
export interface DirectoryRule {
  /** The uid that should own it (the caller's own); "you" in the messages. */
  readonly uid: number
  /** Owners trusted besides `uid` (root, the user a daemon hands its socket to). */
  readonly alsoOwners: ReadonlyArray<number>
  readonly stickyMayBeShared: boolean
}

/** A client's rule for the directory of its default socket: its own and private. */
export const clientRule = (uid: number): DirectoryRule => ({ uid, alsoOwners: [], stickyMayBeShared: false })

/**
 * Why `dir` breaks `rule`, or undefined when it does not (or does not exist). Read with lstat: a symlink is judged
 * itself, not what it points to.
 */
export const untrustedDirectory = (dir: string, rule: DirectoryRule): string | undefined => {
  const st = fs.lstatSync(dir, { throwIfNoEntry: false })
  if (st === undefined) return undefined
  if (st.isSymbolicLink()) return "is a symbolic link"
  if (!st.isDirectory()) return "is not a directory"
  if (st.uid !== rule.uid && !rule.alsoOwners.includes(st.uid)) return `belongs to uid ${st.uid}, not to you (uid ${rule.uid})`
  const shared = (st.mode & 0o022) !== 0 && !(rule.stickyMayBeShared && (st.mode & 0o1000) !== 0)
  if (shared) return `is writable by ${(st.mode & 0o002) !== 0 ? "every user" : "its group"} (mode ${(st.mode & 0o7777).toString(8)})`
  return undefined
}

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH = 107
