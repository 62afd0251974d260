/**
 * `npm run bench -- --profile DIR`: daemons run under `node --cpu-prof` and are stopped so that they write their
 * profile (a SIGKILL, how unprofiled ones are stopped, leaves none). On loopback everywhere; in the lab as root.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { eventually, freePort, memberNames, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { labSkipReason, withDaemons } from "../support/lab.js"
import type { CpuProfile } from "../../scripts/lib/cpuProfile.js"

/** The profiles under `dir`, parsed, one list per host directory. */
const profiles = (dir: string, host: string): ReadonlyArray<CpuProfile> =>
  (fs.existsSync(join(dir, host)) ? fs.readdirSync(join(dir, host)) : [])
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => JSON.parse(fs.readFileSync(join(dir, host, f), "utf8")) as CpuProfile)

const onePerHost = (dir: string, hosts: ReadonlyArray<string>) => {
  for (const h of hosts) {
    const ps = profiles(dir, h)
    expect(ps.map((p) => p.samples.length > 0 && p.nodes.length > 0), h).toEqual([true])
  }
}

describe("profiled daemons", () => {
  it.scopedLive("on loopback: each daemon leaves one CPU profile in DIR/<host> when its scope closes", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const profileDir = join(dir, "profiles")
      yield* Effect.scoped(Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.2", "127.0.0.3"])
        const [h1, h2] = yield* Effect.forEach([1, 2], (i) => startDaemon(dir, i, port, [], { profileDir }))
        // running (their signal handlers set: a SIGTERM before then ends node at once, with no profile)
        for (const d of [h1!, h2!]) expect(yield* eventually(Effect.map(memberNames(d), (m) => m.length === 1), "20 seconds")).toBe(true)
      }))
      onePerHost(profileDir, ["h1", "h2"])
    }), 60_000)
})

describe.skipIf(labSkipReason !== undefined)("profiled daemons in the lab", () => {
  it.scopedLive("in the namespace lab: each host's daemon leaves one CPU profile in DIR/<host>", () =>
    Effect.gen(function*() {
      const profileDir = join(yield* tempDir, "profiles")
      yield* Effect.scoped(withDaemons(2, { profileDir }))
      onePerHost(profileDir, ["h1", "h2"])
    }), 120_000)
})
