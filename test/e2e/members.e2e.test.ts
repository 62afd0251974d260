import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as dgram from "node:dgram"
import * as fs from "node:fs"
import { join } from "node:path"
import { type Daemon, eventually, freePort, makuo, memberNames, startDaemon, stopped, tempDir } from "../../scripts/lib/loopbackCluster.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

const startThree = (extra: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const port = yield* freePort(loopback)
    const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port, extra))
    return { dir, port, daemons }
  })

const othersListed = (daemons: ReadonlyArray<Daemon>, alive: ReadonlyArray<Daemon>) =>
  Effect.map(Effect.forEach(alive, memberNames), (lists) =>
    lists.every((names, i) => names.join() === daemons.filter((d) => d !== alive[i] && alive.includes(d)).map((d) => d.name).join()))

describe("three real daemons on loopback", () => {
  it.scopedLive("makuo doctor: every member answers its PING; a daemon killed is named as silent; without a daemon it fails with the fix", () =>
    Effect.gen(function*() {
      const { daemons } = yield* startThree()
      const [h1, , h3] = daemons as [Daemon, Daemon, Daemon]
      expect(yield* eventually(othersListed(daemons, daemons), "3 seconds"), h1.log()).toBe(true)
      const healthy = yield* makuo(["doctor", "--control", h1.control])
      // the environment may warn (clock, kernel buffer limit); nothing fails
      expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0)
      expect(healthy.stdout).toMatch(new RegExp(`^ok +control socket +${h1.control}: makuo \\S+ on h1 \\(pid \\d+\\)`, "m"))
      expect(healthy.stdout).toMatch(/^ok +interface +group 224\.0\.0\.108:\d+ on 127\.0\.0\.1 \(lo\)$/m)
      expect(healthy.stdout).toMatch(/^ok +members +2 answered a PING: h[23] \d+ ms, h[23] \d+ ms$/m)
      expect(healthy.stdout).toMatch(/^ok +base +.* is writable by the daemon$/m)

      yield* stopped(h3, "SIGKILL")
      const json = yield* makuo(["doctor", "--json", "--control", h1.control])
      const verdicts = json.stdout.trim().split("\n").map((l) => JSON.parse(l) as { check: string; level: string; detail: string })
      expect(verdicts.filter((v) => v.check === "members")).toEqual([
        { check: "members", level: "ok", detail: expect.stringMatching(/^1 answered a PING: h2 \d+ ms$/) },
        expect.objectContaining({ level: "warn", detail: expect.stringMatching(/^h3 \(127\.0\.0\.4\) is in the member table, last heard \d+s ago, but did not answer$/) })
      ])

      const none = yield* makuo(["doctor", "--control", `${h1.control}.missing`])
      expect(none.code).toBe(1)
      expect(none.stdout).toContain(`FAIL  control socket  no daemon answers at ${h1.control}.missing: no such socket`)
      expect(none.stdout).toContain("→ start it: makuo daemon --base DIR")
    }), 30_000)

  it.scopedLive("a second daemon on a busy control socket refuses before it joins the group; --readonly is said at start and a send it declines exits 3; SIGHUP (a reload) does not end a daemon without a key file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      const h1 = yield* startDaemon(dir, 1, port, ["--readonly"])
      const h2 = yield* startDaemon(dir, 2, port)
      expect(yield* eventually(Effect.map(memberNames(h2), (names) => names.join() === "h1"), "3 seconds"), h2.log()).toBe(true)
      expect(h1.log()).toMatch(/read-only: every transfer to this daemon is answered READONLY/)
      // a send that a --readonly member declined is not a success: exit status 3, counted as readonly
      fs.writeFileSync(join(h2.base, "page.html"), "new\n")
      const declined = yield* makuo(["send", "--json", "page.html", "--control", h2.control])
      expect(declined.code, declined.stdout + declined.stderr).toBe(3)
      const events = declined.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; outcome?: string; readonly?: number; failed?: number })
      expect(events.find((e) => e.event === "outcome")).toMatchObject({ outcome: "readonly" })
      expect(events.find((e) => e.event === "summary")).toMatchObject({ readonly: 1, failed: 0 })
      expect(fs.existsSync(join(h1.base, "page.html"))).toBe(false)
      const second = yield* makuo([
        "daemon", "--base", h1.base, "--bind", "127.0.0.4", "--port", String(port), "--interface", "127.0.0.1",
        "--control", h1.control, "--name", "second", "--member-timeout", "2s"
      ])
      expect(second.code).toBe(2)
      expect(second.stderr).toContain(`control socket ${h1.control}: another daemon is already listening on it`)
      // refused before its UDP socket and its start-up line, not after
      expect(second.stderr).not.toMatch(/makuo daemon second/)
      // had it joined, its PING would have put it in h2's table (and its EXIT taken it out again)
      yield* Effect.sleep("300 millis")
      expect(h2.log()).not.toMatch(/member joined: second/)
      expect(yield* memberNames(h2)).toEqual(["h1"])
      h1.process.kill("SIGHUP")
      expect(yield* eventually(Effect.sync(() => /SIGHUP: no key file to reread/.test(h1.log())), "2 seconds"), h1.log()).toBe(true)
      expect(h1.process.exitCode).toBe(null)
      expect(yield* memberNames(h2)).toEqual(["h1"])
    }), 30_000)

  it.scopedLive("each lists the other two within 3 s; SIGTERM leaves at once (within 1 s)", () =>
    Effect.gen(function*() {
      const { daemons } = yield* startThree()
      const [h1, h2, h3] = daemons as [Daemon, Daemon, Daemon]
      expect(yield* eventually(othersListed(daemons, daemons), "3 seconds"), h1.log()).toBe(true)
      expect((fs.statSync(h1.control).mode & 0o777).toString(8)).toBe("600")
      expect(yield* stopped(h3, "SIGTERM")).toBe(0)
      expect(yield* eventually(othersListed(daemons, [h1, h2]), "1 second")).toBe(true)
      expect(h3.log()).toMatch(/stopped/)
    }), 30_000)

  it.scopedLive("a daemon killed with SIGKILL is evicted after --member-timeout 2s (within 4 s)", () =>
    Effect.gen(function*() {
      const { daemons } = yield* startThree(["--member-timeout", "2s"])
      const [h1, h2, h3] = daemons as [Daemon, Daemon, Daemon]
      expect(yield* eventually(othersListed(daemons, daemons), "3 seconds")).toBe(true)
      // a few keep-alive periods: live members must not evict each other
      yield* Effect.sleep("2500 millis")
      expect(yield* othersListed(daemons, daemons)).toBe(true)
      yield* stopped(h3, "SIGKILL")
      expect(yield* eventually(othersListed(daemons, [h1, h2]), "4 seconds")).toBe(true)
    }), 30_000)

  it.scopedLive("garbage datagrams are counted and dropped; the daemon keeps serving", () =>
    Effect.gen(function*() {
      const { daemons, port } = yield* startThree()
      const [h1] = daemons as [Daemon]
      expect(yield* eventually(othersListed(daemons, daemons), "3 seconds")).toBe(true)
      const junk = [Buffer.alloc(0), Buffer.from("hello"), Buffer.alloc(41, 7), Buffer.alloc(1200, 7),
        Buffer.from("07000000ffff0000000000000000000000e000006c1388", "hex")]
      yield* Effect.async<void>((resume) => {
        const s = dgram.createSocket("udp4")
        s.bind(0, "127.0.0.9", () => {
          let left = junk.length
          for (const j of junk) s.send(j, port, h1.address, () => --left === 0 && s.close(() => resume(Effect.void)))
        })
      })
      const malformed = Effect.map(makuo(["status", "--json", "--control", h1.control]), (r) =>
        r.code === 0 ? (JSON.parse(r.stdout) as { counters: { malformed: number } }).counters.malformed : -1)
      expect(yield* eventually(Effect.map(malformed, (n) => n === junk.length), "2 seconds")).toBe(true)
      expect(yield* othersListed(daemons, daemons)).toBe(true)
    }), 30_000)
})

describe("the CLI without a daemon, and with bad flags", () => {
  it.scopedLive("a client command with no daemon behind the socket prints one line naming it and exits 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const sock = join(dir, "none.sock")
      for (const cmd of ["members", "status"]) {
        const r = yield* makuo([cmd, "--control", sock])
        expect(r.code).toBe(2)
        expect(r.stderr.trim().split("\n")).toHaveLength(1)
        expect(r.stderr).toContain(sock)
      }
    }))

  it.scopedLive("--base that is missing or not a directory: one clear line, exit 2", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const missing = yield* makuo(["daemon", "--base", join(dir, "nope"), "--control", join(dir, "s")])
      expect([missing.code, missing.stderr.trim()]).toEqual([2, `makuo: --base ${join(dir, "nope")}: no such directory`])
      const file = yield* makuo(["daemon", "--base", "/etc/hostname", "--control", join(dir, "s")])
      expect([file.code, file.stderr.trim()]).toEqual([2, "makuo: --base /etc/hostname: not a directory"])
      const bad = yield* makuo(["daemon", "--base", dir, "--member-timeout", "soon", "--control", join(dir, "s")])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("--member-timeout 'soon' is not a duration")
    }))

  it.scopedLive("help teaches with examples", () =>
    Effect.gen(function*() {
      const root = yield* makuo(["--help"])
      expect(root.code).toBe(0)
      expect(root.stdout).toContain("makuo daemon --base /var/www")
      const daemon = yield* makuo(["daemon", "--help"])
      expect(daemon.stdout).toContain("--member-timeout")
      expect(daemon.stdout).toContain("Examples:")
      // into a pipe: no escape codes; every option says what it is for, without the parser's generic sentences
      for (const command of [[], ["daemon"], ["send"], ["sync"], ["check"], ["members"], ["status"], ["doctor"]]) {
        const help = yield* makuo([...command, "--help"])
        expect(help.stdout).not.toContain("\x1b[")
        expect(help.stdout).not.toMatch(/A user-defined piece of text|A true or false value|An integer\./)
      }
    }))
})
