/**
 * `npm run soak [-- --datagrams N]`: a real daemon on loopback (127.0.0.2) flooded with hostile datagrams from
 * 127.0.0.9 — the fuzz test's generator, 1 000 000 by default, unicast to the daemon — while its RSS is sampled
 * every second; then a second daemon's `makuo send -r` must still reach it, and nothing may have appeared beside
 * its base. Prints RSS over time, the daemon's counters and its heap right after the flood and once the forged
 * sessions are collected (the victim runs with --session-timeout 10s). A script, not a test: figures, no timed assertion.
 * Loopback only, bounded in count and in time; both daemons are killed by PID when it ends.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as dgram from "node:dgram"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { capturedDatagrams, hostileDatagram } from "./lib/hostile.js"
import { type Daemon, eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "./lib/loopbackCluster.js"
import { prng } from "./lib/prng.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  const n = i < 0 ? fallback : Number(process.argv[i + 1])
  return Number.isFinite(n) && n > 0 ? n : fallback
}

const DATAGRAMS = arg("datagrams", 1_000_000)
/** The flood stops here whatever is left to send. */
const LIMIT_MS = 10 * 60_000
const BATCH = 500

const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? NaN : Number(m[1]) / 1024
}

/** The captured datagrams carry makuosan's group 224.0.0.108:5000: they are given this run's port. */
const toPort = (bytes: Uint8Array, port: number) => {
  if (bytes.length >= 22 && bytes[16] === 224 && bytes[20] === 0x13 && bytes[21] === 0x88) (bytes[20] = port >>> 8), (bytes[21] = port & 0xff)
  return bytes
}

const flood = (victim: Daemon, port: number, pid: number) =>
  Effect.promise(async () => {
    const seeds = capturedDatagrams(join(dirname(dirname(import.meta.dirname)), "test", "vectors"))
    const random = prng(20261203)
    const socket = dgram.createSocket("udp4")
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.9", resolve))
    const started = Date.now()
    const samples: Array<{ readonly seconds: number; readonly sent: number; readonly rss: number }> = []
    let sent = 0
    let nextSample = 0
    while (sent < DATAGRAMS && Date.now() - started < LIMIT_MS) {
      const batch = Math.min(BATCH, DATAGRAMS - sent)
      await Promise.all(Array.from({ length: batch }, (_, k) =>
        new Promise<void>((resolve) =>
          socket.send(toPort(hostileDatagram(random, seeds, sent + k), port), port, victim.address, () => resolve()))))
      sent += batch
      const seconds = (Date.now() - started) / 1000
      if (seconds >= nextSample) samples.push({ seconds, sent, rss: rssMiB(pid) }), (nextSample = Math.floor(seconds) + 1)
    }
    socket.close()
    samples.push({ seconds: (Date.now() - started) / 1000, sent, rss: rssMiB(pid) })
    // and while the daemon is idle again: what it keeps
    for (let k = 0; k < 5; k++) {
      await new Promise((resolve) => setTimeout(resolve, 1000))
      samples.push({ seconds: (Date.now() - started) / 1000, sent, rss: rssMiB(pid) })
    }
    return samples
  })

const soak = Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(["127.0.0.2", "127.0.0.3", "127.0.0.9"])
  const [victim, sender] = (yield* Effect.forEach([1, 2], (i) => startDaemon(dir, i, port, i === 1 ? ["--session-timeout", "10s"] : []))) as unknown as readonly [Daemon, Daemon]
  const listed = Effect.map(Effect.forEach([victim, sender], memberNames), (lists) => lists.every((l) => l.length === 1))
  if (!(yield* eventually(listed, "10 seconds"))) return yield* Effect.fail("the daemons did not find each other within 10 s")
  const pid = victim.process.pid!
  yield* Console.log(`flooding ${victim.name} (${victim.address}:${port}, pid ${pid}) with ${DATAGRAMS} hostile datagrams from 127.0.0.9`)
  const before = rssMiB(pid)
  const memory = (when: string) =>
    Effect.gen(function*() {
      const status = yield* makuo(["status", "--json", "--control", victim.control])
      if (status.code !== 0) return yield* Console.log(`${when}: status failed (${status.stderr.trim()})`)
      const s = JSON.parse(status.stdout) as { counters: Record<string, unknown>; memory: Record<string, number>; incoming: Array<unknown> }
      const m = Object.entries(s.memory).map(([k, v]) => `${k} ${(v / 1024 / 1024).toFixed(1)}`).join(", ")
      yield* Console.log(`${when}: ${s.incoming.length} receive sessions; memory MiB: ${m}`)
      return s.counters
    })
  yield* memory("before the flood")
  const samples = yield* flood(victim, port, pid)
  yield* Console.log(`   seconds       sent   RSS MiB`)
  for (const s of samples) yield* Console.log(`${s.seconds.toFixed(1).padStart(10)} ${String(s.sent).padStart(10)} ${s.rss.toFixed(1).padStart(9)}`)
  const alive = victim.process.exitCode === null && victim.process.signalCode === null
  yield* Console.log(
    `RSS before ${before.toFixed(1)} MiB, peak ${Math.max(...samples.map((s) => s.rss)).toFixed(1)} MiB, 5 s after the flood ${samples.at(-1)!.rss.toFixed(1)} MiB; daemon ${alive ? "alive" : "DEAD"}`
  )
  const counters = yield* memory("5 s after the flood")
  if (counters !== undefined) yield* Console.log(`counters: ${JSON.stringify(counters)}`)
  // the forged sessions go after 10 s of silence (collection runs every 5 s): what stays is not theirs
  yield* Effect.sleep("16 seconds")
  yield* memory("after the forged sessions were collected")
  writeFileSync(join(sender.base, "after-the-flood.html"), "<h1>still here</h1>")
  const send = yield* makuo(["send", "-r", "--control", sender.control], 60_000)
  const arrived = (() => {
    try {
      return readFileSync(join(victim.base, "after-the-flood.html"), "utf8") === "<h1>still here</h1>"
    } catch {
      return false
    }
  })()
  const beside = readdirSync(dirname(victim.base)).filter((n) => n !== "base" && n !== "sock")
  yield* Console.log(`send -r afterwards: exit ${send.code}, ${arrived ? "arrived" : "DID NOT ARRIVE"}; beside the base: ${beside.length === 0 ? "nothing" : beside.join(", ")}`)
  if (!alive || !arrived || beside.length > 0) return yield* Effect.fail("soak failed")
  yield* Console.log("soak ok")
})

NodeRuntime.runMain(Effect.scoped(soak))
