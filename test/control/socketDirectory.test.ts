import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as Client from "../../src/control/Client.js"
import { listenUnix } from "../../src/control/listenUnix.js"
import { serve } from "../../src/control/Server.js"
import { clientDefaultSocket, clientRule, controlSocketPath, untrustedDirectory } from "../../src/control/socketPath.js"

const uid = process.getuid?.() ?? 0
const handler = () => Stream.make({ _tag: "MemberList" as const, members: [], now: 1 })

/** Runs `f` with XDG_RUNTIME_DIR set to `dir`, restoring it afterwards. */
const withRuntimeDir = <A, E, R>(dir: string, f: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const before = process.env.XDG_RUNTIME_DIR
      process.env.XDG_RUNTIME_DIR = dir
      return before
    }),
    () => f,
    (before) => Effect.sync(() => (before === undefined ? delete process.env.XDG_RUNTIME_DIR : (process.env.XDG_RUNTIME_DIR = before)))
  )

describe("the directory of the client's default socket", () => {
  it.scopedLive("is trusted only when it is the user's own private directory, judged without following a symlink", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const own = join(dir, "own")
      fs.mkdirSync(own, { mode: 0o700 })
      expect(untrustedDirectory(own, clientRule(uid))).toBeUndefined()
      expect(untrustedDirectory(join(dir, "absent"), clientRule(uid))).toBeUndefined()
      fs.symlinkSync(own, join(dir, "link"))
      expect(untrustedDirectory(join(dir, "link"), clientRule(uid))).toBe("is a symbolic link")
      const open = join(dir, "open")
      fs.mkdirSync(open)
      fs.chmodSync(open, 0o777)
      expect(untrustedDirectory(open, clientRule(uid))).toBe("is writable by every user (mode 777)")
      fs.chmodSync(open, 0o770)
      expect(untrustedDirectory(open, clientRule(uid))).toBe("is writable by its group (mode 770)")
      // a sticky shared directory (as /tmp): a daemon may keep its socket there, a client's default never is one
      fs.chmodSync(open, 0o1777)
      expect(untrustedDirectory(open, { ...clientRule(uid), stickyMayBeShared: true })).toBeUndefined()
      expect(untrustedDirectory(open, clientRule(uid))).toBe("is writable by every user (mode 1777)")
      fs.chmodSync(open, 0o700)
      expect(untrustedDirectory(open, { ...clientRule(uid + 1), alsoOwners: [uid] })).toBeUndefined()
      // a directory another user planted (only root can make one belong to someone else)
      expect(untrustedDirectory(open, clientRule(uid + 1))).toBe(`belongs to uid ${fs.statSync(open).uid}, not to you (uid ${uid + 1})`)
      if (uid === 0) {
        fs.chownSync(open, 65534, 65534)
        expect(untrustedDirectory(open, clientRule(0))).toBe("belongs to uid 65534, not to you (uid 0)")
      }
    }))

  // root's default socket lies under /run, not in a directory another user could create first
  it.scopedLive.skipIf(uid === 0)("the client sends nothing to a socket in a planted default directory; it names the directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const elsewhere = join(dir, "elsewhere")
      yield* serve(join(elsewhere, "makuo.sock"), handler)
      // another user's directory, reached through a symlink in place of ours
      fs.symlinkSync(elsewhere, join(dir, "makuo"))
      const path = withRuntimeDir(dir, Effect.sync(() => controlSocketPath(undefined)))
      const viaLink = yield* path
      expect(viaLink).toBe(join(dir, "makuo", "makuo.sock"))
      // a client looks there first too (a socket is present), and is refused: it does not pass over to /run/makuo
      expect(clientDefaultSocket()({ XDG_RUNTIME_DIR: dir }, uid)).toBe(viaLink)
      const refused = yield* withRuntimeDir(dir, Effect.flip(Client.collect(viaLink, { _tag: "Members" })))
      expect(refused._tag).toBe("ControlUntrusted")
      expect(refused.message).toContain(`its directory ${join(dir, "makuo")} is a symbolic link`)

      // a world-writable default directory: anyone could have put the socket there
      fs.rmSync(join(dir, "makuo"))
      fs.renameSync(elsewhere, join(dir, "makuo"))
      fs.chmodSync(join(dir, "makuo"), 0o777)
      const open = yield* withRuntimeDir(dir, Effect.either(Client.collect(viaLink, { _tag: "Members" })))
      expect(Either.isLeft(open) && open.left.message).toContain("is writable by every user (mode 777)")

      // the same socket, once the directory is private again, is used
      fs.chmodSync(join(dir, "makuo"), 0o700)
      expect(yield* withRuntimeDir(dir, Client.collect(viaLink, { _tag: "Members" }))).toEqual([{ _tag: "MemberList", members: [], now: 1 }])
    }))

  it.scopedLive("the daemon refuses a socket directory that is a symlink, even to a private directory", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.mkdirSync(join(dir, "real"), { mode: 0o700 })
      fs.symlinkSync(join(dir, "real"), join(dir, "link"))
      const refused = yield* Effect.flip(listenUnix(join(dir, "link", "c.sock"), "control socket"))
      expect(refused).toMatchObject({ reason: "UnsafeDirectory", detail: `directory ${join(dir, "link")} is a symbolic link` })
    }))
})
