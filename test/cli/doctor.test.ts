import { describe, expect, it } from "@effect/vitest"
import { diagnose, type Facts } from "../../src/cli/doctor.js"
import { idleStatus as status } from "../support/status.js"

const healthy: Extract<Facts, { _tag: "Daemon" }> = {
  _tag: "Daemon", control: "/run/makuo/makuo.sock", status,
  members: [{ host: "web2", address: "10.0.0.2", port: 5000, version: "0.1.0", lastSeen: 59_000, since: 0 }],
  answers: [{ host: "web2", address: "10.0.0.2", rttMs: 0.4 }], waitedMs: 1000,
  interfaces: [{ name: "lo", address: "127.0.0.1", internal: true }, { name: "eth0", address: "10.0.0.1", internal: false }],
  route: { dev: "eth0" }, rmemMax: 16 << 20, ntp: true
}
const levels = (f: Facts) => Object.fromEntries(diagnose(f).map((v) => [v.check, v.level]))

describe("makuo doctor's verdicts", () => {
  it("a healthy host: every check ok", () => {
    expect(diagnose(healthy).every((v) => v.level === "ok")).toBe(true)
    expect(diagnose(healthy).find((v) => v.check === "members")?.detail).toBe("1 answered a PING: web2 0 ms")
  })

  it("no daemon: one failure, and the fix depends on why", () => {
    const [missing] = diagnose({ _tag: "NoDaemon", control: "/run/makuo/makuo.sock", reason: "no such socket", denied: false })
    expect(missing).toMatchObject({ check: "control socket", level: "fail", fix: expect.stringContaining("makuo daemon --base DIR") })
    const [denied] = diagnose({ _tag: "NoDaemon", control: "/run/makuo/makuo.sock", reason: "permission denied", denied: true })
    expect(denied?.fix).toContain("--control-group")
  })

  it("what breaks a cluster fails; what may break it warns; each says what to do", () => {
    expect(levels({ ...healthy, status: { ...status, interface: "10.9.9.9" } })["interface"]).toBe("fail")
    expect(levels({ ...healthy, route: undefined })["interface"]).toBe("fail")
    const multiHomed = { ...healthy, interfaces: [...healthy.interfaces, { name: "eth1", address: "192.168.1.5", internal: false }] }
    expect(diagnose(multiHomed).find((v) => v.check === "interface")).toMatchObject({ level: "warn", fix: expect.stringContaining("192.168.1.5 eth1") })
    expect(levels({ ...healthy, status: { ...status, ttl: 0 } })["ttl"]).toBe("fail")
    expect(levels({ ...healthy, status: { ...status, ttl: 4 } })["ttl"]).toBe("warn")
    expect(levels({ ...healthy, status: { ...status, baseWritable: false } })["base"]).toBe("fail")
    expect(levels({ ...healthy, status: { ...status, baseWritable: false, readonly: true } })["base"]).toBe("ok")
    expect(levels({ ...healthy, rmemMax: 212_992 })["receive buffer"]).toBe("warn")
    expect(levels({ ...healthy, ntp: false })["clock"]).toBe("warn")
    const silent = diagnose({ ...healthy, answers: [] }).filter((v) => v.check === "members")
    expect(silent.map((v) => v.level)).toEqual(["warn", "warn"])
    expect(silent[1]?.detail).toBe("web2 (10.0.0.2) is in the member table, last heard 1s ago, but did not answer")
    for (const v of diagnose({ ...healthy, answers: [], route: undefined, ntp: false })) if (v.level !== "ok") expect(v.fix).toBeDefined()
  })

  it("datagrams the kernel dropped for the daemon warn, with the receive buffer settings to raise; unknown says nothing", () => {
    const withDrops = (kernelDrops: number | null) => ({ ...healthy, status: { ...status, counters: { ...status.counters, kernelDrops } } })
    expect(diagnose(withDrops(0)).find((v) => v.check === "receive drops")?.level).toBe("ok")
    expect(diagnose(withDrops(1234)).find((v) => v.check === "receive drops")).toMatchObject({
      level: "warn",
      detail: expect.stringContaining("dropped 1234 datagrams"),
      fix: expect.stringMatching(/recv-buffer.*net\.core\.rmem_max/)
    })
    expect(levels(withDrops(null))["receive drops"]).toBeUndefined()
  })

  it("the wire format: a keyed daemon hearing v7, and an unkeyed one hearing native frames, warn with the fix", () => {
    const native = { mode: "native" as const, keyId: "3f9a01c2", refused: { v7: 0 } }
    expect(diagnose({ ...healthy, status: { ...status, secure: native } }).filter((v) => v.check === "security"))
      .toEqual([{ check: "security", level: "ok", detail: "native mode (key 3f9a01c2): every datagram sealed and authenticated" }])
    const hearsV7 = diagnose({ ...healthy, status: { ...status, secure: { ...native, refused: { v7: 3 } } } }).filter((v) => v.check === "security")
    expect(hearsV7[1]).toMatchObject({ level: "warn", detail: expect.stringContaining("makuosan v7 (unauthenticated)"), fix: expect.stringContaining("key-file") })
    const hearsOld = diagnose({ ...healthy, status: { ...status, secure: { ...native, refused: { v7: 0, oldVersion: 2 } } } }).filter((v) => v.check === "security")
    expect(hearsOld[1]).toMatchObject({ level: "warn", detail: expect.stringContaining("earlier makuo release"), fix: expect.stringContaining("upgrade makuo on every member") })
    expect(levels({ ...healthy, status: { ...status, secure: { mode: "v7", refused: { native: 0 } } } })["security"]).toBeUndefined()
    const hearsNative = diagnose({ ...healthy, status: { ...status, secure: { mode: "v7", refused: { native: 5 } } } }).find((v) => v.check === "security")
    expect(hearsNative).toMatchObject({ level: "warn", detail: expect.stringContaining("native format"), fix: expect.stringContaining("key-file = FILE") })
  })

  it("the members' clocks: measured in native mode, warned about past 1 s, failed past a minute; v7 cannot measure", () => {
    const native = { ...status, secure: { mode: "native" as const, keyId: "3f9a01c2", refused: {} } }
    const clocks = (answers: Extract<Facts, { _tag: "Daemon" }>["answers"], s: typeof status = native) =>
      diagnose({ ...healthy, status: s, answers }).filter((v) => v.check === "clock")
    const web2 = { host: "web2", address: "10.0.0.2", rttMs: 0.4 }
    expect(clocks([{ ...web2, offsetMs: 0.25 }, { host: "web3", address: "10.0.0.3", rttMs: 0.5, offsetMs: -1.5 }])).toEqual([
      { check: "clock", level: "ok", detail: "this host's clock is NTP-synchronized" },
      { check: "clock", level: "ok", detail: "offsets of the members' clocks from this host's (+ ahead, within half the round trip): web2 +0.3 ms, web3 -1.5 ms" }
    ])
    const ahead = clocks([{ ...web2, offsetMs: 2500 }])
    expect(ahead[1]?.detail).toContain("web2 +2.5 s")
    expect(ahead[2]).toMatchObject({ level: "warn", detail: expect.stringMatching(/^web2 \(10\.0\.0\.2\) is 2\.5 s ahead of this host: .*look old there/), fix: expect.stringContaining("NTP") })
    expect(clocks([{ ...web2, offsetMs: -90_000 }])[2]).toMatchObject({ level: "fail", detail: expect.stringContaining("90.0 s behind this host") })
    expect(clocks([web2])[1]).toMatchObject({ level: "warn", detail: expect.stringContaining("its clock cannot be read") })
    expect(clocks([web2], status)).toEqual([{ check: "clock", level: "ok", detail: expect.stringContaining("cannot be read over protocol v7") }])
  })
})
