/**
 * A raw client of the msync console, as a test drives it: every byte the daemon writes is kept, so a whole
 * session can be compared byte for byte; `transcript` reads the captured makuosan sessions in `vectors/console/`.
 */
import { Duration, Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { join } from "node:path"

export interface ConsoleClient {
  /** Everything received so far. */
  readonly received: () => Buffer
  readonly write: (bytes: string | Buffer) => Effect.Effect<void>
  /** Waits until `n` bytes in all have arrived (or the deadline passes) and returns everything received. */
  readonly atLeast: (n: number, within?: Duration.DurationInput) => Effect.Effect<Buffer>
  /** Waits until the bytes since the last newline are exactly the prompt, as msync does. */
  readonly prompt: (within?: Duration.DurationInput) => Effect.Effect<string>
  /** Resolves when the daemon has closed the connection (false if it has not within the deadline). */
  readonly closed: (within?: Duration.DurationInput) => Effect.Effect<boolean>
  /** Hangs up. */
  readonly close: Effect.Effect<void>
}

export const connectConsole = (
  target: string | { readonly host: string; readonly port: number }
): Effect.Effect<ConsoleClient, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<net.Socket, Error>((resume) => {
      const s = typeof target === "string" ? net.connect(target) : net.connect(target.port, target.host)
      s.once("connect", () => resume(Effect.succeed(s)))
      s.once("error", (e) => resume(Effect.fail(e)))
    }),
    (s) => Effect.sync(() => s.destroy())
  ).pipe(Effect.map((socket) => {
    const chunks: Array<Buffer> = []
    let isClosed = false
    const waiters = new Set<() => void>()
    const wake = () => waiters.forEach((w) => w())
    socket.on("data", (d: Buffer) => (chunks.push(d), wake()))
    socket.on("close", () => ((isClosed = true), wake()))
    socket.on("error", () => {})
    const received = () => Buffer.concat(chunks)
    const until = (done: () => boolean, within: Duration.DurationInput) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (!done() && !isClosed) return
          waiters.delete(check)
          resume(Effect.void)
        }
        waiters.add(check)
        check()
        return Effect.sync(() => waiters.delete(check))
      }).pipe(Effect.timeoutTo({ duration: within, onSuccess: () => undefined, onTimeout: () => undefined }))
    const sinceNewline = () => {
      const all = received()
      return all.subarray(all.lastIndexOf(0x0a) + 1).toString("latin1")
    }
    return {
      received,
      write: (bytes) => Effect.async<void>((resume) => void socket.write(bytes, () => resume(Effect.void))),
      atLeast: (n, within = "10 seconds") => Effect.map(until(() => received().length >= n, within), received),
      prompt: (within = "10 seconds") =>
        Effect.map(until(() => sinceNewline() === "> ", within), () => received().toString("latin1")),
      closed: (within = "5 seconds") => Effect.map(until(() => isClosed, within), () => isClosed),
      close: Effect.sync(() => void socket.destroy())
    } satisfies ConsoleClient
  }))

export interface Segment {
  readonly from: "client" | "server"
  readonly bytes: Buffer
}

const vectors = join(import.meta.dirname, "..", "vectors", "console")

/** The connections of one captured msync session, each a list of TCP segments in order. */
export const transcript = (name: string): ReadonlyArray<ReadonlyArray<Segment>> => {
  const connections: Array<Array<Segment>> = []
  for (const line of fs.readFileSync(join(vectors, `${name}.txt`), "utf8").split("\n")) {
    if (line.startsWith("# connection")) connections.push([])
    const m = /^(C>|S<) (".*")$/.exec(line)
    if (m === null) continue
    connections.at(-1)!.push({ from: m[1] === "C>" ? "client" : "server", bytes: Buffer.from(JSON.parse(m[2]!) as string, "latin1") })
  }
  return connections
}
