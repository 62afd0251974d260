/**
 * A host that announces another member's name, from its own address (protocol v7 authenticates nobody): the name
 * must no longer pick a host, every daemon involved says so, and the reports tell the two apart by address.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as dgram from "node:dgram"
import * as fs from "node:fs"
import { join } from "node:path"
import { type Daemon, eventually, freePort, makuo, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { Opcode, SendState } from "../../src/protocol/v7/constants.js"
import { encode } from "../../src/protocol/v7/codec.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

const loopback = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
const IMPOSTOR = "127.0.0.9"

/** A starting daemon's PING announcing `hostname`, as makuosan sends it. */
const ping = (hostname: string, port: number) =>
  Either.getOrThrow(encode({
    header: {
      opcode: Opcode.PING, nstate: SendState.STAT, ostate: 0, flags: 0, reqid: 1 as ReqId, seqno: 0,
      maddr: "224.0.0.108" as Ipv4, mport: port, error: 0, hash: new Uint8Array(16)
    },
    payload: { _tag: "Mping", hostname, version: "1.3.6" }
  }))

/** Sends one PING from the impostor's own address to each daemon, and closes. */
const announce = (hostname: string, port: number, to: ReadonlyArray<Daemon>) =>
  Effect.async<void>((resume) => {
    const s = dgram.createSocket("udp4")
    s.bind(0, IMPOSTOR, () => {
      let left = to.length
      for (const d of to) s.send(ping(hostname, port), port, d.address, () => --left === 0 && s.close(() => resume(Effect.void)))
    })
  })

const membersOf = (d: Daemon) =>
  Effect.map(makuo(["members", "--json", "--control", d.control]), (r) =>
    r.code === 0 ? (JSON.parse(r.stdout) as { members: Array<{ host: string; address: string }> }).members : [])

describe("a host announcing another member's name", () => {
  it.scopedLive("-t NAME is refused naming both addresses, -t ADDRESS picks the real one; members, doctor, both daemons' logs and the outcomes tell them apart", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort([...loopback, IMPOSTOR])
      const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port))
      const [h1, h2, h3] = daemons as [Daemon, Daemon, Daemon]
      expect(yield* eventually(Effect.map(membersOf(h1), (m) => m.length === 2), "5 seconds"), h1.log()).toBe(true)
      fs.writeFileSync(join(h1.base, "f"), "for the real h2\n")

      yield* announce("h2", port, daemons)
      expect(yield* eventually(Effect.map(membersOf(h1), (m) => m.length === 3), "3 seconds")).toBe(true)
      expect((yield* membersOf(h1)).filter((m) => m.host === "h2").map((m) => m.address).sort()).toEqual([h2.address, IMPOSTOR])

      for (const command of ["send", "check"]) {
        const byName = yield* makuo([command, "-t", "h2", "f", "--control", h1.control])
        expect(byName.code, byName.stdout + byName.stderr).toBe(2)
        expect(byName.stderr).toContain(`h2 is announced by more than one host (${h2.address}, ${IMPOSTOR})`)
        expect(byName.stderr).toContain("-t ADDRESS")
      }
      expect(fs.existsSync(join(h2.base, "f"))).toBe(false)

      const byAddress = yield* makuo(["send", "-t", h2.address, "f", "--control", h1.control])
      expect(byAddress.code, byAddress.stdout + byAddress.stderr).toBe(0)
      expect(fs.readFileSync(join(h2.base, "f"), "utf8")).toBe("for the real h2\n")

      // the daemon whose name is taken, and a daemon that sees one name at two addresses, both warn
      expect(yield* eventually(Effect.sync(() => h2.log().includes(`${IMPOSTOR} announces this daemon's own name h2`)), "2 seconds"), h2.log()).toBe(true)
      expect(h1.log()).toContain(`two members announce the name h2: ${h2.address}, ${IMPOSTOR}`)
      expect(h3.log()).toContain(`two members announce the name h2: ${h2.address}, ${IMPOSTOR}`)

      const listed = yield* makuo(["members", "--control", h1.control])
      expect(listed.stdout).toContain(`WARNING: 2 hosts announce the name h2 (${h2.address}, ${IMPOSTOR})`)
      const doctor = yield* makuo(["doctor", "--control", h1.control])
      expect(doctor.code).toBe(1)
      expect(doctor.stdout).toMatch(new RegExp(`^FAIL +names +2 hosts announce the name h2: .*${IMPOSTOR.replace(/\./g, "\\.")}`, "m"))

      // a send to the whole group reaches both; the impostor, which never answers, is named by its address
      fs.writeFileSync(join(h1.base, "g"), "everyone\n")
      const all = yield* makuo(["send", "--timeout", "2s", "g", "--control", h1.control])
      expect(all.code).toBe(1)
      expect(all.stdout).toMatch(new RegExp(`^lost +g {2}h2 \\(${IMPOSTOR.replace(/\./g, "\\.")}\\)`, "m"))
      expect(all.stdout).toMatch(new RegExp(`^update +g {2}h2 \\(${h2.address.replace(/\./g, "\\.")}\\) h3$`, "m"))
    }), 60_000)

  it.scopedLive("-t with this daemon's own name, announced by another host, is refused", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort([...loopback.slice(0, 2), IMPOSTOR])
      const daemons = yield* Effect.forEach([1, 2], (i) => startDaemon(dir, i, port))
      const [h1] = daemons as [Daemon, Daemon]
      expect(yield* eventually(Effect.map(membersOf(h1), (m) => m.length === 1), "5 seconds"), h1.log()).toBe(true)
      fs.writeFileSync(join(h1.base, "f"), "x\n")
      yield* announce("h1", port, daemons)
      expect(yield* eventually(Effect.map(membersOf(h1), (m) => m.length === 2), "3 seconds")).toBe(true)
      const r = yield* makuo(["send", "-t", "h1", "f", "--control", h1.control])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain(`h1 is announced by more than one host (this daemon, ${IMPOSTOR})`)
      expect(h1.log()).toContain(`${IMPOSTOR} announces this daemon's own name h1`)
    }), 30_000)
})
