/**
 * An msync-style session against real daemons on loopback: the console over TCP, the commands msync sends, the
 * bytes it reads back — and the files really moved, deleted and compared on the members.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { freeTcpPort } from "../../scripts/lib/processes.js"
import { WIRE_VERSION } from "../../src/version.js"
import { connectConsole } from "../support/consoleClient.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]

describe("msync console on a real daemon", () => {
  it.scopedLive("connect, prompt, members, send -r, dsync -r, check -r, quit: byte for byte", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      const consolePort = yield* freeTcpPort
      // msync without -K, as against makuosan: the operator opts in to a console without a password
      const h1 = yield* startDaemon(dir, 1, port, ["--console", `tcp:127.0.0.1:${consolePort}`, "--console-no-password"])
      const h2 = yield* startDaemon(dir, 2, port)
      const h3 = yield* startDaemon(dir, 3, port)
      expect(yield* eventually(Effect.map(memberNames(h1), (m) => m.length === 2), "5 seconds")).toBe(true)

      fs.mkdirSync(join(h1.base, "tree"))
      fs.writeFileSync(join(h1.base, "tree/a.txt"), "file a\n")
      // older than anything a member creates, so the directory itself is an update too
      for (const p of ["tree/a.txt", "tree"]) fs.utimesSync(join(h1.base, p), 1700000400, 1700000400)

      const client = yield* connectConsole({ host: "127.0.0.1", port: consolePort })
      let expected = "> "
      const say = (command: string, answer: string) =>
        Effect.gen(function*() {
          yield* client.atLeast(expected.length)
          yield* client.write(`${command}\r\n`)
          expected += answer
          const got = (yield* client.atLeast(expected.length, "30 seconds")).toString("latin1")
          expect(got).toBe(expected)
        })
      yield* say("alive on", "> ")
      yield* say("loglevel 1", "> ")
      yield* say("members ", `h2 127.0.0.3 (Ver${WIRE_VERSION})\nh3 127.0.0.4 (Ver${WIRE_VERSION})\nTotal: 2 members\n> `)
      yield* say("send -r tree", "update h2:tree/a.txt\r\nupdate h3:tree/a.txt\r\nupdate h2:tree\r\nupdate h3:tree\r\n> ")
      for (const h of [h2, h3]) expect(fs.readFileSync(join(h.base, "tree/a.txt"), "utf8")).toBe("file a\n")

      fs.writeFileSync(join(h2.base, "tree/old.txt"), "gone on the sender")
      fs.writeFileSync(join(h3.base, "tree/keep.log"), "excluded")
      yield* say("exclude add *.log", "> ")
      yield* say("dsync -r tree", "delete h2:tree/old.txt\n> ")
      expect(fs.existsSync(join(h2.base, "tree/old.txt"))).toBe(false)
      expect(fs.existsSync(join(h3.base, "tree/keep.log"))).toBe(true)

      fs.writeFileSync(join(h3.base, "tree/a.txt"), "file A\n")
      yield* say("check -r tree", "h2: OK tree/a.txt\r\nh3: NG tree/a.txt\r\n> ")
      yield* client.write("quit\r\n")
      expect(yield* client.closed()).toBe(true)
      expect(client.received().toString("latin1")).toBe(expected)

      // the makuo CLI and the console share the daemon: the CLI still works after the session
      const status = yield* makuo(["status", "--control", h1.control])
      expect(status.code).toBe(0)
    }))

  it.scopedLive("the daemon refuses a TCP console without a password (on loopback unless opted in), and a bad password file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const base = join(dir, "base")
      fs.mkdirSync(base)
      const open = yield* makuo(["daemon", "--base", base, "--console", "tcp:0.0.0.0:5000", "--control", join(dir, "s")])
      expect(open.code).toBe(2)
      expect(open.stderr).toContain("--console tcp:0.0.0.0:5000: a console off loopback needs --console-password-file")
      const local = yield* makuo(["daemon", "--base", base, "--console", "tcp:127.0.0.1:5000", "--control", join(dir, "s")])
      expect(local.code).toBe(2)
      expect(local.stderr).toContain("--console tcp:127.0.0.1:5000: a TCP console lets every local user")
      expect(local.stderr).toContain("--console-no-password")
      fs.writeFileSync(join(dir, "pw"), "abc")
      const short = yield* makuo(["daemon", "--base", base, "--console", "unix:" + join(dir, "c"), "--console-password-file", join(dir, "pw"), "--control", join(dir, "s")])
      expect(short.code).toBe(2)
      expect(short.stderr).toContain(`--console-password-file ${join(dir, "pw")}: too short`)
    }))
})
