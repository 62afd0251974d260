/**
 * makuosan's text console (makuosan-v7.md §8), so `msync` and its scripts keep working against a makuo daemon: a TCP or
 * unix socket, the `> ` prompt, one command at a time per connection, at most 8 connections. Commands run on the
 * daemon's own services, the same ones the makuo CLI uses. A client that hangs up mid-command interrupts it (its
 * transfers are broken off on every member, as makuosan's BREAK). No input can crash or stall the daemon: lines
 * are capped at 1024 bytes, at most 64 lines wait while a command runs (makuosan discards them all), and output a
 * slow client does not read is dropped and counted instead of buffered without bound (E8).
 */
import { Deferred, Effect, Exit, FiberSet, Queue, type Scope, Stream } from "effect"
import * as net from "node:net"
import type { StatusInfo } from "../control/Protocol.js"
import type { Member } from "../domain/member.js"
import { ControlSetupError } from "../control/errors.js"
import { listenUnix, type SocketAccess } from "../control/listenUnix.js"
import type { SendRefused } from "../transfer/errors.js"
import { type SendEvent, type SendJob, sendJob } from "../domain/job.js"
import { type ConsoleAddress, formatConsoleAddress } from "./address.js"
import { type ConsoleCommand, parseCommand } from "./commands.js"
import { makeLineReader } from "./lineReader.js"
import { type PasswordDigest, passwordMatches } from "./password.js"
import { eventText, helpText, membersText, PASSWORD_PROMPT, PROMPT, statusText } from "./render.js"

/** What the console needs of the daemon. */
export interface ConsoleBackend {
  readonly members: Effect.Effect<ReadonlyArray<Member>>
  readonly status: Effect.Effect<StatusInfo>
  readonly run: (job: SendJob) => Stream.Stream<SendEvent, SendRefused>
  readonly recvBufferSize: number
  readonly sendBufferSize: number
}

export interface ConsoleSettings {
  readonly address: ConsoleAddress
  readonly password: PasswordDigest | undefined
}

/** makuosan's MAX_COMM. */
export const MAX_CONNECTIONS = 8
/** Lines a client may send ahead of the prompt; more are dropped. */
const MAX_QUEUED_LINES = 64
/** Output a client has not read yet beyond which further lines are dropped (and reported before the prompt). */
const MAX_UNREAD_OUTPUT = 1 << 20
/** makuosan's MAKUO_PARALLEL_MAX: transfers in flight per console command. */
const PARALLEL = 8

const makeOutput = (socket: net.Socket) => {
  let lost = 0
  const write = (text: string) => {
    if (text === "" || socket.destroyed) return
    if (socket.writableLength > MAX_UNREAD_OUTPUT) lost += text.split("\n").length - 1 || 1
    else socket.write(text)
  }
  return {
    write,
    prompt: () => {
      if (lost > 0) write(`[error] Log lost: ${lost} lines\n`), (lost = 0)
      write(PROMPT)
    }
  }
}

interface SessionState {
  level: number
  alive: boolean
  readonly excludes: Array<string>
}

type Ended = "quit" | "closed" | "overflow" | "refused"

const serveConnection = (
  socket: net.Socket,
  backend: ConsoleBackend,
  settings: ConsoleSettings,
  busy: Map<net.Socket, string>
) =>
  Effect.gen(function*() {
    const peer = socket.remoteAddress === undefined ? "unix socket client" : `${socket.remoteAddress}:${socket.remotePort}`
    const inbox = yield* Queue.dropping<Buffer>(MAX_QUEUED_LINES)
    const gone = yield* Deferred.make<Ended>()
    const read = makeLineReader()
    socket.on("error", () => {})
    socket.on("data", (chunk: Buffer) => {
      const fed = read(chunk)
      if (fed._tag === "Overflow") return void Deferred.unsafeDone(gone, Exit.succeed("overflow"))
      for (const line of fed.lines) inbox.unsafeOffer(line)
    })
    socket.once("close", () => Deferred.unsafeDone(gone, Exit.succeed("closed")))
    // a client reset before this fiber ran has already closed: its slot must not wait forever
    if (socket.destroyed) Deferred.unsafeDone(gone, Exit.succeed("closed"))
    const out = makeOutput(socket)
    const state: SessionState = { level: 0, alive: false, excludes: [] }

    const execute = (command: ConsoleCommand, line: string): Effect.Effect<void> => {
      switch (command._tag) {
        case "Empty":
        case "Quit":
          return Effect.void
        case "Help":
          return Effect.sync(() => out.write(helpText))
        case "Members":
          return Effect.map(backend.members, (list) => out.write(membersText(list)))
        case "Status":
          return Effect.map(backend.status, (status) =>
            out.write(statusText({
              status,
              recvBufferSize: backend.recvBufferSize,
              sendBufferSize: backend.sendBufferSize,
              commands: [...busy.entries()].filter(([s]) => s !== socket).map(([, c]) => c)
            })))
        case "Echo":
          return Effect.sync(() => out.write(`${command.words.join(" ")}\n`))
        case "LogLevel":
          return Effect.sync(() => void (state.level = command.level))
        case "ExcludeAdd":
          return Effect.sync(() => void (state.excludes.includes(command.pattern) || state.excludes.push(command.pattern)))
        case "ExcludeDel":
          return Effect.sync(() => {
            const i = state.excludes.indexOf(command.pattern)
            if (i < 0) out.write(`pattern not found ${command.pattern}\n`)
            else state.excludes.splice(i, 1)
          })
        case "ExcludeList":
          return Effect.sync(() => out.write(state.excludes.map((p) => `${p}\n`).join("")))
        case "ExcludeClear":
          return Effect.sync(() => void state.excludes.splice(0))
        case "Alive":
          return Effect.sync(() =>
            command.on === undefined ? out.write(`alive ${state.alive ? "on" : "off"}\n`) : void (state.alive = command.on))
        case "Usage":
          return Effect.sync(() => out.write(command.lines.map((l) => `${l}\n`).join("")))
        case "Unknown":
          return Effect.sync(() => out.write(`mexec: command error '${command.word}'\n`))
        case "Transfer":
          return transfer(command, line)
        default:
          return command satisfies never
      }
    }

    const transfer = (command: Extract<ConsoleCommand, { _tag: "Transfer" }>, line: string) => {
      const verbosity = { operation: command.operation, dryRun: command.dryRun, level: state.level }
      const events = backend.run(sendJob({
        paths: command.path === undefined ? [] : [command.path],
        recursive: command.recursive,
        dryRun: command.dryRun,
        operation: command.operation,
        targets: command.targets,
        excludes: [...state.excludes],
        parallel: PARALLEL,
        reportSkipped: state.level >= 2
      }))
      const alive = state.alive
        ? Effect.forever(Effect.zipRight(Effect.sleep("1 second"), Effect.sync(() => out.write("alive\n"))))
        : Effect.never
      const report = Stream.runForEach(events, (e) => Effect.sync(() => out.write(eventText(e, verbosity)))).pipe(
        Effect.catchAll((refused) => Effect.sync(() => out.write(`error: ${refused.message}\n`))),
        Effect.raceFirst(alive)
      )
      return Effect.zipRight(Effect.sync(() => busy.set(socket, line)), report).pipe(
        Effect.ensuring(Effect.sync(() => busy.delete(socket)))
      )
    }

    const conversation: Effect.Effect<Ended> = Effect.gen(function*() {
      if (settings.password !== undefined) {
        out.write(PASSWORD_PROMPT)
        if (!passwordMatches(settings.password, yield* Queue.take(inbox))) {
          out.write("sorry.\n")
          return "refused" as const
        }
        out.write("\r")
      }
      out.prompt()
      for (;;) {
        const line = (yield* Queue.take(inbox)).toString("utf8")
        const command = parseCommand(line)
        if (command._tag === "Quit") return "quit" as const
        yield* execute(command, line)
        out.prompt()
      }
    })

    const ended = yield* Effect.raceFirst(conversation, Deferred.await(gone))
    if (ended === "overflow") yield* Effect.logWarning(`console: ${peer} sent a line longer than 1024 bytes; disconnected`)
    if (ended === "refused") yield* Effect.logWarning(`console: ${peer} gave a wrong password; disconnected`)
  }).pipe(Effect.ensuring(Effect.sync(() => socket.end())))

const listenTcp = (host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<net.Server, ControlSetupError>((resume) => {
      const server = net.createServer()
      server.once("error", (e) => resume(Effect.fail(new ControlSetupError({ role: "console", path: `tcp:${host}:${port}`, reason: "Listen", detail: e.message }))))
      server.listen({ host, port }, () => {
        server.removeAllListeners("error")
        server.on("error", () => {})
        resume(Effect.succeed(server))
      })
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

export const serve = (
  settings: ConsoleSettings,
  backend: ConsoleBackend,
  access: SocketAccess = {}
): Effect.Effect<void, ControlSetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const { address } = settings
    const server = yield* (address._tag === "Tcp" ? listenTcp(address.host, address.port) : listenUnix(address.path, "console", access))
    // made after the listener, so its sessions end (and their sockets close) before the listener waits for them
    const sessions = yield* FiberSet.make()
    const run = yield* FiberSet.runtime(sessions)<never>()
    const busy = new Map<net.Socket, string>()
    let open = 0
    server.on("connection", (socket) => {
      if (open >= MAX_CONNECTIONS) return void socket.destroy()
      open++
      run(serveConnection(socket, backend, settings, busy).pipe(Effect.ensuring(Effect.sync(() => void open--))))
    })
    yield* Effect.logInfo(
      `msync console on ${formatConsoleAddress(address)}${settings.password === undefined ? "" : " (password required)"}`
    )
  })
