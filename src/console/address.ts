/** Where the msync console listens: `tcp:HOST:PORT` (IPv4, as msync connects) or `unix:PATH`. */
import { Either } from "effect"
import { parseIpv4 } from "../protocol/message.js"

export type ConsoleAddress =
  | { readonly _tag: "Tcp"; readonly host: string; readonly port: number }
  | { readonly _tag: "Unix"; readonly path: string }

export const parseConsoleAddress = (text: string): Either.Either<ConsoleAddress, string> => {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length)
    return path === "" ? Either.left("unix: needs a socket path, e.g. unix:/run/makuo/console.sock") : Either.right({ _tag: "Unix", path })
  }
  const tcp = /^tcp:([^:]+):(\d{1,5})$/.exec(text)
  if (tcp === null) return Either.left("expected tcp:HOST:PORT (e.g. tcp:127.0.0.1:5000) or unix:PATH")
  const [, host, digits] = tcp as unknown as [string, string, string]
  const port = Number(digits)
  if (parseIpv4(host) === undefined) return Either.left(`${host}: not an IPv4 address (msync connects over IPv4)`)
  if (port < 1 || port > 65535) return Either.left(`port ${port}: must be between 1 and 65535`)
  return Either.right({ _tag: "Tcp", host, port })
}

export const formatConsoleAddress = (a: ConsoleAddress): string =>
  a._tag === "Tcp" ? `tcp:${a.host}:${a.port}` : `unix:${a.path}`

/** Anyone who can reach a TCP console can push and delete files: off loopback it needs a password. */
export const needsPassword = (a: ConsoleAddress): boolean => a._tag === "Tcp" && !a.host.startsWith("127.")
