/** Where a client looks for the daemon when nothing names the socket: root, a user with a daemon of their own, a deploy user. */
import { describe, expect, it } from "vitest"
import { clientDefaultSocket, controlSocketPath, daemonDefaultSocket, SYSTEM_SOCKET } from "../../src/control/socketPath.js"

const env = { XDG_RUNTIME_DIR: "/run/user/1000" }
const own = "/run/user/1000/makuo/makuo.sock"
/** The client's default with these paths present (lstat finds them) and no others. */
const client = (present: ReadonlyArray<string>, uid = 1000, environment: NodeJS.ProcessEnv = env) =>
  controlSocketPath(undefined, environment, uid, () => undefined, clientDefaultSocket((p) => present.includes(p)))

describe("the client's default control socket", () => {
  it("root uses the system socket", () => {
    expect(client([own, SYSTEM_SOCKET], 0)).toBe(SYSTEM_SOCKET)
    expect(client([], 0)).toBe(SYSTEM_SOCKET)
  })

  it("a user whose own daemon listens uses it; a user without one finds the system daemon (the --control-group setup)", () => {
    expect(client([own, SYSTEM_SOCKET])).toBe(own)
    expect(client([SYSTEM_SOCKET])).toBe(SYSTEM_SOCKET)
    expect(client(["/run/user/1000/makuo", SYSTEM_SOCKET])).toBe(SYSTEM_SOCKET)
    expect(client([SYSTEM_SOCKET], 1000, {})).toBe(SYSTEM_SOCKET)
    expect(client([`/tmp/makuo-1000/makuo.sock`, SYSTEM_SOCKET], 1000, { TMPDIR: "/tmp" })).toBe("/tmp/makuo-1000/makuo.sock")
  })

  it("with no socket anywhere: the user's own when their private directory exists, else the system's (what the error then names)", () => {
    expect(client(["/run/user/1000/makuo"])).toBe(own)
    expect(client([])).toBe(SYSTEM_SOCKET)
  })

  it("a flag, MAKUO_CONTROL and the config file still come first; the daemon's own default stays private for a user", () => {
    expect(controlSocketPath("/x.sock", env, 1000, () => "/conf.sock", clientDefaultSocket(() => true))).toBe("/x.sock")
    expect(controlSocketPath(undefined, { ...env, MAKUO_CONTROL: "/env.sock" }, 1000, () => "/conf.sock", clientDefaultSocket(() => true))).toBe("/env.sock")
    expect(controlSocketPath(undefined, env, 1000, () => "/conf.sock", clientDefaultSocket(() => true))).toBe("/conf.sock")
    expect(daemonDefaultSocket(env, 1000)).toBe(own)
    expect(daemonDefaultSocket(env, 0)).toBe(SYSTEM_SOCKET)
  })
})
