/** The console server's behaviour under clients that misbehave: wrong passwords, floods, too many, hang-ups. */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { freeTcpPort } from "../../scripts/lib/processes.js"
import { type ConsoleBackend, MAX_CONNECTIONS, serve } from "../../src/console/Console.js"
import { passwordFromFile } from "../../src/console/password.js"
import { NoMembers } from "../../src/transfer/errors.js"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { connectConsole } from "../support/consoleClient.js"

const backend = (run: ConsoleBackend["run"]): ConsoleBackend => ({
  members: Effect.succeed([]),
  status: Effect.die("unused"),
  run,
  recvBufferSize: 0,
  sendBufferSize: 0
})

const updated = (path: string): SendEvent => ({ _tag: "File", path, hosts: [{ host: "h2", address: "127.0.0.3", outcome: "updated" }] })

const console = (run: ConsoleBackend["run"], password?: string) =>
  Effect.gen(function*() {
    const path = join(yield* tempDir, "console.sock")
    const digest = password === undefined ? undefined : Either.getOrThrow(passwordFromFile(Buffer.from(`${password}\n`)))
    yield* serve({ address: { _tag: "Unix", path }, password: digest }, backend(run))
    return path
  })

describe("msync console", () => {
  it.scopedLive("a password is asked first; the right one gives the prompt, a wrong one 'sorry.' and a hang-up", () =>
    Effect.gen(function*() {
      const path = yield* console(() => Stream.empty, "open sesame")
      expect(fs.statSync(path).mode & 0o777).toBe(0o600)
      const good = yield* connectConsole(path)
      yield* good.atLeast(13)
      expect(good.received().toString("latin1")).toBe("password: \x1b]E")
      yield* good.write("open sesame\r\n")
      yield* good.atLeast(16)
      yield* good.write("echo in\r\n")
      expect((yield* good.atLeast(21)).toString("latin1")).toBe("password: \x1b]E\r> in\n> ")

      const bad = yield* connectConsole(path)
      yield* bad.write("open sesame!\r\n")
      expect(yield* bad.closed()).toBe(true)
      expect(bad.received().toString("latin1")).toBe("password: \x1b]Esorry.\n")
    }))

  it.scopedLive("a line over 1024 bytes closes that connection only; the 9th connection is refused", () =>
    Effect.gen(function*() {
      const path = yield* console(() => Stream.empty)
      const flood = yield* connectConsole(path)
      yield* flood.write(Buffer.alloc(4096, 0x61))
      expect(yield* flood.closed()).toBe(true)

      const clients = yield* Effect.forEach(Array.from({ length: MAX_CONNECTIONS }), () => connectConsole(path))
      for (const c of clients) yield* c.prompt()
      const ninth = yield* connectConsole(path)
      expect(yield* ninth.closed()).toBe(true)
      expect(ninth.received().length).toBe(0)
      yield* clients[0]!.write("quit\r\n")
      expect(yield* clients[0]!.closed()).toBe(true)
      const next = yield* connectConsole(path)
      yield* next.write("echo again\r\n")
      expect((yield* next.atLeast(10)).toString()).toBe("> again\n> ")
    }))

  it.scopedLive("clients that reset at once never use up the connection slots", () =>
    Effect.gen(function*() {
      const port = yield* freeTcpPort
      yield* serve({ address: { _tag: "Tcp", host: "127.0.0.1", port }, password: undefined }, backend(() => Stream.empty))
      for (let i = 0; i < 3 * MAX_CONNECTIONS; i++) {
        yield* Effect.async<void>((resume) => {
          const s = net.connect(port, "127.0.0.1", () => (s.resetAndDestroy(), resume(Effect.void)))
          s.on("error", () => resume(Effect.void))
        })
      }
      yield* Effect.sleep("200 millis")
      const client = yield* connectConsole({ host: "127.0.0.1", port })
      expect(yield* client.prompt("3 seconds")).toBe("> ")
    }))

  it.scopedLive("a client that hangs up mid-command interrupts it", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const path = yield* console(() =>
        Stream.fromEffect(Deferred.succeed(started, undefined)).pipe(
          Stream.zipRight(Stream.never),
          Stream.ensuring(Deferred.succeed(interrupted, undefined))
        ))
      const client = yield* connectConsole(path)
      yield* client.write("send -r\r\n")
      yield* Deferred.await(started)
      yield* client.close
      yield* Deferred.await(interrupted).pipe(Effect.timeout("5 seconds"))
    }))

  it.scopedLive("lines sent while a command runs wait their turn; alive lines every second; refusals are error lines", () =>
    Effect.gen(function*() {
      const jobs: Array<SendJob> = []
      const path = yield* console((job) => {
        jobs.push(job)
        if (job.paths[0] === "none") return Stream.fail(new NoMembers())
        return Stream.concat(Stream.make(updated(job.paths[0]!)), Stream.fromEffect(Effect.sleep("2200 millis")).pipe(Stream.drain))
      })
      const client = yield* connectConsole(path)
      yield* client.prompt()
      yield* client.write("alive on\r\nloglevel 1\r\nexclude add *.tmp\r\nsend slow.txt\r\necho after\r\nsend none\r\nalive\r\n")
      const expected = "> > > > update h2:slow.txt\r\nalive\nalive\n> after\n> " +
        `error: ${new NoMembers().message}\n> alive on\n> `
      expect((yield* client.atLeast(expected.length)).toString("latin1")).toBe(expected)
      expect(jobs[0]).toMatchObject({ paths: ["slow.txt"], excludes: ["*.tmp"], operation: "send", recursive: false })
    }))
})
