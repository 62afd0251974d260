/**
 * The daemon's end of the control channel: a unix socket with mode 0600 (only the daemon's user may talk to it),
 * one request per connection, its events streamed back as JSON lines. A client that hangs up interrupts its
 * request; a malformed or oversized request line gets a `Failed` event, never a crash.
 */
import { Effect, Either, FiberSet, type Scope, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { dirname } from "node:path"
import { ControlSetupError } from "./errors.js"
import { type ControlEvent, type ControlRequest, EventLine, MAX_REQUEST_LINE, RequestLine } from "./Protocol.js"
import { MAX_SOCKET_PATH } from "./socketPath.js"

export type Handler = (request: ControlRequest) => Stream.Stream<ControlEvent>

const setupError = (path: string, detail: string) => new ControlSetupError({ path, detail })

const uid = () => process.getuid?.() ?? 0

/** The socket's directory must not let another user swap the socket under us. */
const checkDirectory = (path: string) =>
  Effect.try({
    try: () => {
      const dir = dirname(path)
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const st = fs.statSync(dir)
      if (st.uid !== uid() && st.uid !== 0) throw new Error(`directory ${dir} belongs to uid ${st.uid}`)
      if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
        throw new Error(`directory ${dir} is writable by others and not sticky`)
      }
    },
    catch: (e) => setupError(path, e instanceof Error ? e.message : String(e))
  })

const isListening = (path: string) =>
  Effect.async<boolean>((resume) => {
    const probe = net.connect(path)
    probe.once("connect", () => (probe.destroy(), resume(Effect.succeed(true))))
    probe.once("error", () => resume(Effect.succeed(false)))
  })

/** Removes a socket left behind by a daemon that died; refuses to touch anything else. */
const clearStale = (path: string) =>
  Effect.gen(function*() {
    const st = yield* Effect.sync(() => fs.lstatSync(path, { throwIfNoEntry: false }))
    if (st === undefined) return
    if (!st.isSocket()) return yield* Effect.fail(setupError(path, "exists and is not a socket; refusing to replace it"))
    if (yield* isListening(path)) return yield* Effect.fail(setupError(path, "another daemon is already listening on it"))
    yield* Effect.sync(() => fs.rmSync(path, { force: true }))
  })

const listen = (path: string) =>
  Effect.acquireRelease(
    Effect.async<net.Server, ControlSetupError>((resume) => {
      const server = net.createServer()
      server.once("error", (e) => resume(Effect.fail(setupError(path, e.message))))
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
        fs.rmSync(path, { force: true })
      })
  )

const readRequestLine = (socket: net.Socket) =>
  Effect.async<string, string>((resume) => {
    let buffered = ""
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const nl = buffered.indexOf("\n")
      if (nl >= 0) done(Effect.succeed(buffered.slice(0, nl)))
      else if (buffered.length > MAX_REQUEST_LINE) done(Effect.fail(`request line longer than ${MAX_REQUEST_LINE} bytes`))
    }
    const onEnd = () => done(Effect.fail("connection closed before a request line"))
    const done = (result: Effect.Effect<string, string>) => {
      socket.off("data", onData).off("end", onEnd).off("error", onEnd)
      resume(result)
    }
    socket.on("data", onData).once("end", onEnd).once("error", onEnd)
  })

const writeEvent = (socket: net.Socket, event: ControlEvent) =>
  Effect.async<void>((resume) => {
    const line = Schema.encodeSync(EventLine)(event) + "\n"
    if (socket.write(line)) resume(Effect.void)
    else socket.once("drain", () => resume(Effect.void))
  })

const closed = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    if (socket.destroyed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
  })

const serveConnection = (socket: net.Socket, handler: Handler) =>
  Effect.gen(function*() {
    socket.on("error", () => {})
    const line = yield* Effect.either(readRequestLine(socket))
    const request = Either.flatMap(line, (l) =>
      Either.mapLeft(Schema.decodeEither(RequestLine)(l), (e) => `unreadable request: ${e.message}`))
    const events: Stream.Stream<ControlEvent> = Either.match(request, {
      onLeft: (message) => Stream.make({ _tag: "Failed", message } as const, { _tag: "Done" } as const),
      onRight: (r) => Stream.concat(handler(r), Stream.make({ _tag: "Done" } as const))
    })
    // a client that hangs up interrupts its request (for a transfer: a clean cancel on every member)
    yield* Effect.raceFirst(Stream.runForEach(events, (e) => writeEvent(socket, e)), closed(socket))
    yield* Effect.sync(() => socket.end())
  }).pipe(Effect.ensuring(Effect.sync(() => socket.destroySoon())))

export const serve = (path: string, handler: Handler): Effect.Effect<void, ControlSetupError, Scope.Scope> =>
  Effect.gen(function*() {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      return yield* Effect.fail(setupError(path, `path longer than ${MAX_SOCKET_PATH} bytes (unix socket limit)`))
    }
    yield* checkDirectory(path)
    yield* clearStale(path)
    const connections = yield* FiberSet.make()
    const run = yield* FiberSet.runtime(connections)<never>()
    const server = yield* listen(path)
    yield* Effect.try({ try: () => fs.chmodSync(path, 0o600), catch: (e) => setupError(path, String(e)) })
    server.on("connection", (socket) => run(serveConnection(socket, handler)))
    yield* Effect.logInfo(`control socket ${path}`)
  })
