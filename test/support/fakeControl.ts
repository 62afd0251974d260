/**
 * A stand-in for a daemon's control socket: it records each request line a client sends and answers with the
 * given events, then `Done`. Tests see what a command line becomes on the wire, without a daemon.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { join } from "node:path"

export interface FakeControl {
  readonly path: string
  /** The requests received so far, parsed. */
  readonly requests: Array<Record<string, unknown>>
}

export const fakeControl = (dir: string, reply: (request: Record<string, unknown>) => ReadonlyArray<object> = () => []) =>
  Effect.acquireRelease(
    Effect.async<{ readonly control: FakeControl; readonly server: net.Server }>((resume) => {
      const control: FakeControl = { path: join(dir, "control.sock"), requests: [] }
      const server = net.createServer((socket) => {
        let buffered = ""
        socket.on("data", (chunk) => {
          buffered += chunk.toString("utf8")
          const end = buffered.indexOf("\n")
          if (end < 0) return
          const request = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>
          control.requests.push(request)
          socket.end([...reply(request), { _tag: "Done" }].map((e) => JSON.stringify(e) + "\n").join(""))
        })
        socket.on("error", () => socket.destroy())
      })
      server.listen(control.path, () => resume(Effect.succeed({ control, server })))
    }),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  ).pipe(Effect.map(({ control }) => control))
