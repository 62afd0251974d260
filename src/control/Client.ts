/** The CLI's end of the control channel: one request, its events as a stream until `Done`. */
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import * as net from "node:net"
import { dirname } from "node:path"
import { ControlProtocolError, ControlUnavailable, ControlUntrusted, RequestRefused } from "./errors.js"
import { type ControlEvent, type ControlRequest, EventLine, RequestLine } from "./Protocol.js"
import { clientRule, privateControlDirectory, untrustedDirectory } from "./socketPath.js"

export type ControlClientError = ControlUnavailable | ControlUntrusted | ControlProtocolError

/**
 * A socket in the user's default directory is used only if that directory is the user's own and private, as the
 * daemon requires of it. Elsewhere (a path given with --control, MAKUO_CONTROL or the config file) the user chose
 * the place, which may rightly belong to the daemon's user (`--user`, `--control-group`).
 */
const trusted = (path: string): Effect.Effect<void, ControlUntrusted> =>
  Effect.suspend(() => {
    const uid = process.getuid?.() ?? 0
    const directory = dirname(path)
    const problem = directory === privateControlDirectory(process.env, uid) ? untrustedDirectory(directory, clientRule(uid)) : undefined
    return problem === undefined ? Effect.void : Effect.fail(new ControlUntrusted({ path, directory, problem }))
  })

export const request = (path: string, req: ControlRequest): Stream.Stream<ControlEvent, ControlClientError> =>
  Stream.unwrap(Effect.as(trusted(path), connect(path, req)))

const connect = (path: string, req: ControlRequest): Stream.Stream<ControlEvent, ControlClientError> =>
  Stream.asyncScoped<ControlEvent, ControlClientError>((emit) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const socket = net.connect(path)
        let connected = false
        let finished = false
        let buffered = ""
        const fail = (e: ControlClientError) => {
          if (!finished) (finished = true), void emit(Effect.fail(Option.some(e)))
        }
        socket.once("connect", () => {
          connected = true
          socket.write(Schema.encodeSync(RequestLine)(req) + "\n")
        })
        // the events of one read go downstream as one chunk
        socket.on("data", (chunk) => {
          buffered += chunk.toString("utf8")
          const lines = buffered.split("\n")
          buffered = lines.pop()!
          const events: Array<ControlEvent> = []
          for (const line of lines) {
            if (finished) break
            const event = Schema.decodeEither(EventLine)(line)
            if (Either.isLeft(event)) {
              if (events.length > 0) void emit(Effect.succeed(Chunk.unsafeFromArray(events)))
              return fail(new ControlProtocolError({ path, detail: `unreadable event: ${event.left.message}` }))
            }
            if (event.right._tag === "Done") finished = true
            else events.push(event.right)
          }
          if (events.length > 0) void emit(Effect.succeed(Chunk.unsafeFromArray(events)))
          if (finished) void emit(Effect.fail(Option.none()))
        })
        socket.on("error", (e: NodeJS.ErrnoException) =>
          fail(
            connected
              ? new ControlProtocolError({ path, detail: e.message })
              : new ControlUnavailable({ path, code: e.code ?? e.message })
          ))
        socket.on("close", () => fail(new ControlProtocolError({ path, detail: "the daemon closed the connection mid-request" })))
        return socket
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
  )

/** The request's events, collected; a `Failed` event becomes a `RequestRefused`. */
export const collect = (path: string, req: ControlRequest) =>
  request(path, req).pipe(
    Stream.runCollect,
    Effect.map(Chunk.toReadonlyArray),
    Effect.flatMap((events) => {
      const failed = events.find((e) => e._tag === "Failed")
      return failed?._tag === "Failed"
        ? Effect.fail(new RequestRefused({ reason: failed.reason, detail: failed.message }))
        : Effect.succeed(events)
    })
  )
