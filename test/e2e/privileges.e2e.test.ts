/**
 * Local security of a root daemon: `--user` drops root once the sockets are open, `--control-group` opens the
 * control socket to one group and nobody else. Needs root (CI runs as root); skipped otherwise.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { type Daemon, eventually, freePort, makuo, memberNames, portableBin, startDaemon, stopped, tempDir } from "../../scripts/lib/loopbackCluster.js"

const loopback = ["127.0.0.2", "127.0.0.3"]
const NOBODY = 65534
const DEPLOY_GID = 4242

const credentials = (d: Daemon) =>
  Object.fromEntries(
    fs.readFileSync(`/proc/${d.process.pid}/status`, "utf8").split("\n").filter((l) => /^(Uid|Gid|Groups):/.test(l)).map((l) => {
      const [k, v] = l.split(":")
      return [k!, v!.trim().split(/\s+/).join(" ")]
    })
  )

describe.skipIf(process.getuid?.() !== 0)("a root daemon's local security", () => {
  it.scopedLive("--user nobody: runs as nobody after binding, receives files owned by itself; --control-group: its members drive the daemon, others are refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.chmodSync(dir, 0o755) // the clients below run as other users
      // from a copy of the CLI they can read, wherever this checkout lies
      const bin = portableBin(dir)
      const port = yield* freePort(loopback)
      // h2's directory holds its control socket: private (0700) until the daemon hands it to nobody and the group
      fs.mkdirSync(join(dir, "h2", "base"), { recursive: true, mode: 0o700 })
      fs.chmodSync(join(dir, "h2"), 0o700)
      fs.chownSync(join(dir, "h2", "base"), NOBODY, NOBODY)
      const h1 = yield* startDaemon(dir, 1, port)
      const h2 = yield* startDaemon(dir, 2, port, ["--user", "nobody", "--control-group", String(DEPLOY_GID)], { bin })
      const both = Effect.map(Effect.forEach([h1, h2], memberNames), (ls) => ls.every((l) => l.length === 1))
      expect(yield* eventually(both, "5 seconds"), h2.log()).toBe(true)
      expect(credentials(h2)).toEqual({ Uid: "65534 65534 65534 65534", Gid: "65534 65534 65534 65534", Groups: "65534" })
      expect(yield* eventually(Effect.sync(() => h2.log().includes("running as nobody (uid 65534, gid 65534)")), "3 seconds"), h2.log()).toBe(true)

      const socket = fs.statSync(h2.control)
      expect([socket.mode & 0o777, socket.uid, socket.gid]).toEqual([0o660, NOBODY, DEPLOY_GID])
      const socketDir = fs.statSync(join(dir, "h2"))
      expect([socketDir.mode & 0o777, socketDir.uid, socketDir.gid]).toEqual([0o750, NOBODY, DEPLOY_GID])
      const deployer = yield* makuo(["status", "--json", "--control", h2.control], 20_000, { uid: 4343, gid: DEPLOY_GID }, bin)
      expect(deployer.code, deployer.stderr).toBe(0)
      expect(JSON.parse(deployer.stdout).host).toBe("h2")
      const stranger = yield* makuo(["status", "--control", h2.control], 20_000, { uid: 4344, gid: 4344 }, bin)
      expect(stranger.code).toBe(2)
      expect(stranger.stderr).toContain(`no makuo daemon at ${h2.control} (permission denied)`)

      fs.mkdirSync(join(h1.base, "site"))
      fs.writeFileSync(join(h1.base, "site/index.html"), "hello")
      fs.chownSync(join(h1.base, "site/index.html"), 1234, 1234)
      fs.chmodSync(join(h1.base, "site/index.html"), 0o4755)
      const sent = yield* makuo(["send", "-r", "--control", h1.control])
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      const got = fs.statSync(join(h2.base, "site/index.html"))
      expect(fs.readFileSync(join(h2.base, "site/index.html"), "utf8")).toBe("hello")
      // an unprivileged daemon neither gives files away nor keeps setuid bits
      expect([got.uid, got.gid, got.mode & 0o7777]).toEqual([NOBODY, NOBODY, 0o755])

      expect(yield* stopped(h2, "SIGTERM")).toBe(0)
      expect(fs.existsSync(h2.control)).toBe(false)
    }), 60_000)

  it.effect("--user is refused with a reason: unknown user, root itself, a base the user cannot write", () =>
    Effect.gen(function*() {
      const base = fs.mkdtempSync("/tmp/makuo-priv-")
      try {
        const run = (...args: ReadonlyArray<string>) =>
          makuo(["daemon", "--base", base, "--bind", "127.0.0.2", "--interface", "127.0.0.1", "--port", "1", "--control", join(base, "s"), ...args])
        const unknown = yield* run("--user", "no-such-user-here")
        expect([unknown.code, unknown.stderr.trim()]).toEqual([2, "makuo: --user: no such user 'no-such-user-here'"])
        const root = yield* run("--user", "root")
        expect(root.stderr.trim()).toBe("makuo: --user root: that is root; leave --user out to run as root")
        const group = yield* run("--group", "nogroup")
        expect(group.stderr.trim()).toBe("makuo: --group needs --user")
        const port = yield* freePort(["127.0.0.2"])
        const unwritable = yield* makuo(["daemon", "--base", base, "--bind", "127.0.0.2", "--interface", "127.0.0.1", "--port", String(port),
          "--control", join(base, "ctl", "s"), "--user", "nobody"])
        expect(unwritable.code).toBe(2)
        expect(unwritable.stderr).toContain(`\nmakuo: --user nobody (uid 65534, gid 65534): the base ${fs.realpathSync(base)} is not writable by that user (chown it, or add --readonly)`)
      } finally {
        fs.rmSync(base, { recursive: true, force: true })
      }
    }), 30_000)
})
