import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import * as Client from "../../src/control/Client.js"
import { serve } from "../../src/control/Server.js"

const handler = () => Stream.make({ _tag: "MemberList" as const, members: [], now: 1 })

/** Sends raw bytes on the control socket and returns everything the daemon wrote back. */
const raw = (path: string, bytes: string | Buffer) =>
  Effect.async<string>((resume) => {
    const s = net.connect(path, () => s.end(bytes))
    let out = ""
    s.on("data", (d) => void (out += d.toString()))
    s.on("close", () => resume(Effect.succeed(out)))
    s.on("error", () => {})
  })

describe("control socket", () => {
  it.scopedLive("serves typed requests; malformed, oversized and truncated lines get Failed, the server lives on", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "c.sock")
      yield* serve(path, handler)
      expect(fs.statSync(path).mode & 0o777).toBe(0o600)
      expect(yield* Client.collect(path, { _tag: "Members" })).toEqual([{ _tag: "MemberList", members: [], now: 1 }])
      for (const bad of ["not json\n", "{\"_tag\":\"Reboot\"}\n", Buffer.alloc((1 << 20) + 10, 0x61)]) {
        const reply = yield* raw(path, bad)
        expect(reply).toMatch(/^\{"_tag":"Failed","reason":"BadRequest","message":".+"\}\n\{"_tag":"Done"\}\n$/)
      }
      // a client that hangs up before a newline gets nothing and costs nothing
      yield* raw(path, "{\"_tag\":\"Members\"}")
      expect(yield* Client.collect(path, { _tag: "Status" }).pipe(Effect.either, Effect.map(Either.isRight))).toBe(true)
    }))

  it.scopedLive("refuses a path that is not a socket, and one where another daemon listens", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "file")
      fs.writeFileSync(file, "precious")
      const e1 = yield* Effect.flip(serve(file, handler))
      expect(e1).toMatchObject({ _tag: "ControlSetupError", reason: "NotASocket" })
      expect(e1.message).toContain("not a socket")
      expect(fs.readFileSync(file, "utf8")).toBe("precious")
      const path = join(dir, "live.sock")
      yield* serve(path, handler)
      const e2 = yield* Effect.flip(serve(path, handler))
      expect(e2).toMatchObject({ _tag: "ControlSetupError", reason: "InUse" })
      expect(e2.message).toContain("already listening")
    }))

  it.scopedLive("a refusal reaches the client with its reason, not only its words", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "refusing.sock")
      const refusing = () => Stream.make({ _tag: "Failed" as const, reason: "NoMembers" as const, message: "no members: nothing to send to" })
      yield* serve(path, refusing)
      const e = yield* Effect.flip(Client.collect(path, { _tag: "Members" }))
      expect(e).toMatchObject({ _tag: "RequestRefused", reason: "NoMembers", detail: "no members: nothing to send to" })
    }))

  it.scopedLive("a stale socket of a dead daemon is replaced", () =>
    Effect.gen(function*() {
      const path = join(yield* tempDir, "stale.sock")
      // a process that bound the socket and died without removing it
      execFileSync("python3", ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path])
      expect(fs.lstatSync(path).isSocket()).toBe(true)
      yield* serve(path, handler)
      expect(yield* Client.collect(path, { _tag: "Members" })).toHaveLength(1)
    }))
})
