/**
 * A unix stream socket only the daemon's user can use: its directory is checked (ours or root's, not writable by
 * others), a socket left by a dead daemon is replaced, a live one or anything that is not a socket is refused,
 * and the socket is 0600 from its first instant. Closed and unlinked with the scope.
 *
 * `SocketAccess` widens that on purpose: a `group` makes the socket 0660 in that group (`--control-group`), and an
 * `owner` hands socket and directory to the user the daemon will run as (`--user`), so it can remove them on exit.
 * A private directory (mode 0700), or one already handed over, gets the same owner and group, 0750 with a group.
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { dirname } from "node:path"
import { ControlSetupError, SetupRefused } from "./errors.js"
import { MAX_SOCKET_PATH, untrustedDirectory } from "./socketPath.js"

const uid = () => process.getuid?.() ?? 0

export interface SocketAccess {
  /** The uid the daemon will run as, when it drops root. */
  readonly owner?: number | undefined
  /** A gid whose members may use the socket too. */
  readonly group?: number | undefined
}

/** The socket's directory must not let another user swap the socket under us. */
const checkDirectory = (path: string, access: SocketAccess) =>
  Effect.suspend(() => {
    const dir = dirname(path)
    const unsafe = (detail: string) => Effect.fail(new SetupRefused({ reason: "UnsafeDirectory", detail }))
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    } catch (e) {
      return unsafe(`cannot create directory ${dir}: ${(e as Error).message}`)
    }
    const owners = access.owner === undefined ? [0] : [0, access.owner]
    const problem = untrustedDirectory(dir, { uid: uid(), alsoOwners: owners, stickyMayBeShared: true })
    if (problem !== undefined) return unsafe(`directory ${dir} ${problem}`)
    const st = fs.lstatSync(dir)
    const wanted = access.owner !== undefined || access.group !== undefined
    const handedOver = st.uid === (access.owner ?? st.uid) && st.gid === (access.group ?? st.gid)
    if (wanted && ((st.mode & 0o077) === 0 || handedOver)) {
      return Effect.try({
        try: () => {
          fs.chownSync(dir, access.owner ?? -1, access.group ?? -1)
          fs.chmodSync(dir, access.group !== undefined ? 0o750 : 0o700)
        },
        catch: (e) => new SetupRefused({ reason: "UnsafeDirectory", detail: `cannot hand directory ${dir} over: ${(e as Error).message}` })
      })
    }
    return Effect.void
  })

const isListening = (path: string) =>
  Effect.async<boolean>((resume) => {
    const probe = net.connect(path)
    probe.once("connect", () => (probe.destroy(), resume(Effect.succeed(true))))
    probe.once("error", () => resume(Effect.succeed(false)))
  })

const inUse = () => new SetupRefused({ reason: "InUse", detail: "another daemon is already listening on it" })

/**
 * Refuses a path where a daemon answers, before anything else starts: a second daemon started by mistake must
 * not join the group, answer PINGs and take transfers before it finds its control socket taken.
 */
export const refuseInUse = (path: string, role: string): Effect.Effect<void, ControlSetupError> =>
  Effect.gen(function*() {
    const st = yield* Effect.sync(() => fs.lstatSync(path, { throwIfNoEntry: false }))
    if (st?.isSocket() === true && (yield* isListening(path))) {
      const { reason, detail } = inUse()
      return yield* new ControlSetupError({ role, path, reason, detail })
    }
  })

/** Removes a socket left behind by a daemon that died; refuses to touch anything else. */
const clearStale = (path: string) =>
  Effect.gen(function*() {
    const st = yield* Effect.sync(() => fs.lstatSync(path, { throwIfNoEntry: false }))
    if (st === undefined) return
    if (!st.isSocket()) return yield* new SetupRefused({ reason: "NotASocket", detail: "exists and is not a socket; refusing to replace it" })
    if (yield* isListening(path)) return yield* inUse()
    yield* Effect.sync(() => fs.rmSync(path, { force: true }))
  })

const listen = (path: string) =>
  Effect.acquireRelease(
    Effect.async<net.Server, SetupRefused>((resume) => {
      const server = net.createServer()
      server.once("error", (e) => resume(Effect.fail(new SetupRefused({ reason: "Listen", detail: e.message }))))
      // the socket is created by listen(): a restrictive umask makes it 0600 from its first instant
      const umask = process.umask(0o177)
      try {
        server.listen(path, () => {
          server.removeAllListeners("error")
          server.on("error", () => {})
          resume(Effect.succeed(server))
        })
      } finally {
        process.umask(umask)
      }
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        try {
          fs.rmSync(path, { force: true })
        } catch {
          // a daemon that dropped root may no longer reach a directory root created; the dead socket left there
          // is replaced on the next start
        }
      })
  )

export const listenUnix = (
  path: string,
  role: string,
  access: SocketAccess = {}
): Effect.Effect<net.Server, ControlSetupError, Scope.Scope> =>
  Effect.gen(function*() {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      return yield* new SetupRefused({ reason: "PathTooLong", detail: `path longer than ${MAX_SOCKET_PATH} bytes (unix socket limit)` })
    }
    yield* checkDirectory(path, access)
    yield* clearStale(path)
    const server = yield* listen(path)
    yield* Effect.try({
      try: () => {
        if (access.owner !== undefined || access.group !== undefined) fs.chownSync(path, access.owner ?? -1, access.group ?? -1)
        fs.chmodSync(path, access.group !== undefined ? 0o660 : 0o600)
      },
      catch: (e) => new SetupRefused({ reason: "Listen", detail: String(e) })
    })
    return server
  }).pipe(Effect.mapError(({ reason, detail }) => new ControlSetupError({ role, path, reason, detail })))
