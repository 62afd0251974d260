/**
 * What the benchmark measures makuo against, on the same lab hosts and the same data: the runtime's own
 * ceiling (raw `node:dgram` multicast, no protocol), and rsync to every receiver one after another and all at
 * once (an rsync daemon in each receiver host). Each is started inside the lab and stopped with its scope.
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import { dirname, join } from "node:path"
import type { Lab, LabError, LabHost } from "./lab.js"

const PROBE = join(dirname(import.meta.dirname), "dgramProbe.js")

export interface Ceiling {
  readonly mbPerSecond: number
  readonly datagramsPerSecond: number
  /** Share of the datagrams sent that arrived. */
  readonly delivered: number
}

/**
 * Raw multicast from `sender` to `receiver`: what the runtime carries when nothing is acknowledged, with
 * `node:dgram` (one call per datagram) or makuo's native addon (GSO bursts, recvmmsg/GRO).
 */
export const dgramCeiling = (lab: Lab, sender: LabHost, receiver: LabHost, count: number, io: "dgram" | "native") =>
  Effect.scoped(Effect.gen(function*() {
    const recv = yield* lab.background(receiver, [process.execPath, PROBE, "recv", "239.77.0.1", "6000", receiver.address, "--io", io])
    for (let i = 0; i < 50 && !recv.output().includes("ready"); i++) yield* Effect.sleep("100 millis")
    const sent = yield* lab.exec(sender, [process.execPath, PROBE, "send", "239.77.0.1", "6000", sender.address, String(count), "--io", io], 120_000)
    yield* recv.exited
    const got = JSON.parse(recv.output().split("\n").find((l) => l.startsWith("{")) ?? "{}") as { datagrams?: number; seconds?: number }
    const out = JSON.parse(sent.stdout.trim() || "{}") as { sent?: number; seconds?: number }
    const datagrams = got.datagrams ?? 0
    const seconds = Math.max(got.seconds ?? 0, out.seconds ?? 0, 1e-6)
    return {
      mbPerSecond: (datagrams * 1024) / 1_000_000 / seconds,
      datagramsPerSecond: datagrams / seconds,
      delivered: datagrams / Math.max(1, out.sent ?? count)
    } satisfies Ceiling
  }))

export interface Rsync {
  /** Seconds to copy `dir` (relative to the sender's base) to every receiver, one after another. */
  readonly sequential: (dir: string) => Effect.Effect<number, string>
  /** Seconds to copy it to every receiver at once. */
  readonly allAtOnce: (dir: string) => Effect.Effect<number, string>
}

/** An rsync daemon in every receiver host, writing to a directory beside makuo's base. */
export const rsyncPeers = (lab: Lab, sender: LabHost, receivers: ReadonlyArray<LabHost>): Effect.Effect<Rsync, LabError, Scope.Scope> =>
  Effect.gen(function*() {
    const target = (h: LabHost) => join(dirname(h.base), "rsync")
    for (const h of receivers) {
      fs.mkdirSync(target(h), { recursive: true })
      const config = join(dirname(h.base), "rsyncd.conf")
      fs.writeFileSync(config, `uid = root\ngid = root\nuse chroot = no\npid file = ${join(dirname(h.base), "rsyncd.pid")}\n[m]\npath = ${target(h)}\nread only = no\n`)
      yield* lab.background(h, ["rsync", "--daemon", "--no-detach", `--config=${config}`, `--address=${h.address}`, "--port=873"])
    }
    yield* Effect.sleep("500 millis")
    const copy = (dir: string, h: LabHost) =>
      Effect.flatMap(lab.exec(sender, ["rsync", "-a", `${join(sender.base, dir)}/`, `rsync://${h.address}/m/${dir}/`], 1_800_000), (r) =>
        r.code === 0 ? Effect.void : Effect.fail(`rsync to ${h.name}: exit ${r.code}: ${r.stderr.trim()}`))
    const timed = (dir: string, concurrency: number) =>
      Effect.gen(function*() {
        for (const h of receivers) fs.rmSync(join(target(h), dir), { recursive: true, force: true })
        const started = performance.now()
        yield* Effect.forEach(receivers, (h) => copy(dir, h), { concurrency, discard: true })
        return (performance.now() - started) / 1000
      })
    return { sequential: (dir) => timed(dir, 1), allAtOnce: (dir) => timed(dir, receivers.length) }
  })

/** UFTP's client id for an IPv4 address: the address itself, as eight hex digits. */
const uftpId = (address: string) => `0x${address.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join("")}`

/**
 * UFTP (Debian `uftp`): `uftpd` in every receiver host, writing beside makuo's base; `uftp` from the sender at a
 * fixed rate (`-C none -R kbps`), 1024-byte blocks, a closed group of the receivers.
 */
export const uftpPeers = (lab: Lab, sender: LabHost, receivers: ReadonlyArray<LabHost>, rateKbps: number) =>
  Effect.gen(function*() {
    const target = (h: LabHost) => join(dirname(h.base), "uftp")
    for (const h of receivers) {
      fs.mkdirSync(target(h), { recursive: true })
      yield* lab.background(h, ["uftpd", "-d", "-x", "0", "-I", "eth0", "-D", target(h)])
    }
    yield* Effect.sleep("500 millis")
    return (dir: string): Effect.Effect<number, string> =>
      Effect.gen(function*() {
        for (const h of receivers) fs.rmSync(join(target(h), dir), { recursive: true, force: true })
        const started = performance.now()
        const r = yield* lab.exec(sender, [
          "uftp", "-x", "0", "-I", "eth0", "-C", "none", "-R", String(rateKbps), "-b", "1024",
          "-H", receivers.map((h) => uftpId(h.address)).join(","), join(sender.base, dir)
        ], 1_800_000)
        if (r.code !== 0) return yield* Effect.fail(`uftp exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-300)}`)
        return (performance.now() - started) / 1000
      })
  })
