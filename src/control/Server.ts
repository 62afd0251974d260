/**
 * The daemon's end of the control channel: a unix socket with mode 0600 (only the daemon's user may talk to it),
 * one request per connection, its events streamed back as JSON lines. A client that hangs up interrupts its
 * request; a malformed or oversized request line gets a `Failed` event, never a crash.
 */
import { Data, Effect, Either, FiberSet, type Scope, Schema, Stream } from "effect"
import type * as net from "node:net"
import type { ControlSetupError } from "./errors.js"
import { listenUnix, type SocketAccess } from "./listenUnix.js"
import { ControlEvent, type ControlRequest, MAX_REQUEST_LINE, RequestLine } from "./Protocol.js"

export type Handler = (request: ControlRequest) => Stream.Stream<ControlEvent>

/** A request the daemon could not read: answered with a `Failed` event of reason `BadRequest`. */
class BadRequest extends Data.TaggedError("BadRequest")<{ readonly detail: string }> {}

const readRequestLine = (socket: net.Socket) =>
  Effect.async<string, BadRequest>((resume) => {
    let buffered = ""
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8")
      const nl = buffered.indexOf("\n")
      if (nl >= 0) done(Effect.succeed(buffered.slice(0, nl)))
      else if (buffered.length > MAX_REQUEST_LINE) done(Effect.fail(new BadRequest({ detail: `request line longer than ${MAX_REQUEST_LINE} bytes` })))
    }
    const onEnd = () => done(Effect.fail(new BadRequest({ detail: "connection closed before a request line" })))
    const done = (result: Effect.Effect<string, BadRequest>) => {
      socket.off("data", onData).off("end", onEnd).off("error", onEnd)
      resume(result)
    }
    socket.on("data", onData).once("end", onEnd).once("error", onEnd)
  })

// an event is its own encoded form (no field is transformed: `satisfies` fails to compile the day one is), so
// JSON.stringify writes what the client's Schema decodes, without a validation pass per event
const line = (event: ControlEvent) => JSON.stringify(event satisfies typeof ControlEvent.Encoded) + "\n"

/** Unwritten output above which the stream waits for the client to read. */
const HIGH_WATER = 256 * 1024
/** How long a line may wait for others to share its write: too short for a person to notice. */
const COALESCE_MS = 20

/**
 * Writes event lines, coalesced: the lines of 20 ms go out in one write (a write per line, which wakes the
 * client each time, costs more than the transfer of a small file), and a slow reader holds the stream back
 * instead of filling memory.
 */
const makeEventWriter = (socket: net.Socket) => {
  let pending = ""
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = () => {
    clearTimeout(timer)
    timer = undefined
    if (pending === "" || socket.destroyed) return
    socket.write(pending)
    pending = ""
  }
  return {
    write: (event: ControlEvent) =>
      Effect.async<void>((resume) => {
        if (pending === "") timer = setTimeout(flush, COALESCE_MS)
        pending += line(event)
        if (socket.writableLength + pending.length < HIGH_WATER) return resume(Effect.void)
        flush()
        socket.once("drain", () => resume(Effect.void))
      }),
    flush: Effect.sync(flush)
  }
}

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
      Either.mapLeft(Schema.decodeEither(RequestLine)(l), (e) => new BadRequest({ detail: `unreadable request: ${e.message}` })))
    const events: Stream.Stream<ControlEvent> = Either.match(request, {
      onLeft: (e) => Stream.make({ _tag: "Failed", reason: e._tag, message: e.detail } as const, { _tag: "Done" } as const),
      onRight: (r) => Stream.concat(handler(r), Stream.make({ _tag: "Done" } as const))
    })
    // a client that hangs up interrupts its request (for a transfer: a clean cancel on every member)
    const writer = makeEventWriter(socket)
    yield* Effect.raceFirst(Stream.runForEach(events, writer.write), closed(socket))
    yield* writer.flush
    yield* Effect.sync(() => socket.end())
  }).pipe(Effect.ensuring(Effect.sync(() => socket.destroySoon())))

export const serve = (path: string, handler: Handler, access: SocketAccess = {}): Effect.Effect<void, ControlSetupError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* listenUnix(path, "control socket", access)
    // made after the listener, so on shutdown the requests in flight are interrupted (their sockets closed)
    // before the listener waits for its connections to end
    const connections = yield* FiberSet.make()
    const run = yield* FiberSet.runtime(connections)<never>()
    server.on("connection", (socket) => run(serveConnection(socket, handler)))
    yield* Effect.logInfo(`control socket ${path}`)
  })
