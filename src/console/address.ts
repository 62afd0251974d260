/** Where the msync console listens: `tcp:HOST:PORT` (IPv4, as msync connects) or `unix:PATH`. */
import { Either } from "effect"
import { parseIpv4 } from "../protocol/fields.js"

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

/**
 * Why a console without a password must not start, or undefined when it may. Whoever reaches a TCP console has the
 * daemon (often root) push and delete files, e.g. send a 0600 file of root's to the members where that user can read
 * it; on loopback that is every local user. So a TCP console needs a password, unless `insecureLoopback` (the
 * operator's explicit opt-in) lets a loopback one go without; off loopback it always needs one. A unix socket is
 * guarded by its file mode (0600).
 */
export const passwordlessRefusal = (a: ConsoleAddress, insecureLoopback: boolean): string | undefined => {
  if (a._tag === "Unix") return undefined
  if (!a.host.startsWith("127.")) return "a console off loopback needs --console-password-file"
  return insecureLoopback
    ? undefined
    : "a TCP console lets every local user have this daemon send any file it can read; give it " +
      "--console-password-file FILE (msync -K FILE), use unix:PATH (mode 0600), or accept that with --console-no-password"
}
