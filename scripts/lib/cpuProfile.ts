/** A V8 `.cpuprofile` (what `node --cpu-prof` writes), summed by function: where a daemon's CPU went. */
import * as fs from "node:fs"
import { join } from "node:path"

export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number }
  }>
  readonly startTime: number
  readonly endTime: number
  /** The node on top of the stack at each sample. */
  readonly samples: ReadonlyArray<number>
  /** Microseconds from the previous sample (the first: from startTime) to this one. */
  readonly timeDeltas: ReadonlyArray<number>
}

export interface SelfTime {
  /** `function url:line:column` (1-based, as editors count: the bundle is one long line per module; "(anonymous)" for a function without a name). */
  readonly function: string
  readonly micros: number
}

/**
 * Self time per function, largest first, and the profile's total. A sample lasts until the next one (the last one
 * until endTime), as Chrome's DevTools count it; nodes of one function (one per distinct caller) are summed.
 */
export const selfTimes = (profile: CpuProfile): { readonly total: number; readonly functions: ReadonlyArray<SelfTime> } => {
  const names = new Map(profile.nodes.map((n) => {
    const f = n.callFrame
    return [n.id, `${f.functionName === "" ? "(anonymous)" : f.functionName} ${f.url}:${f.lineNumber + 1}:${f.columnNumber + 1}`] as const
  }))
  const sums = new Map<string, number>()
  let at = profile.startTime
  const times = profile.timeDeltas.map((d) => (at += d))
  let total = 0
  profile.samples.forEach((id, i) => {
    const micros = (times[i + 1] ?? profile.endTime) - times[i]!
    const name = names.get(id) ?? `(node ${id})`
    sums.set(name, (sums.get(name) ?? 0) + micros)
    total += micros
  })
  return { total, functions: [...sums].map(([f, micros]) => ({ function: f, micros })).sort((a, b) => b.micros - a.micros) }
}

/** V8's name for the time the thread waited in the event loop: left out of the busy time the percents are of. */
const isIdle = (f: SelfTime) => f.function.startsWith("(idle) ")

/** The `top` busy functions by self time as lines: milliseconds, percent of the busy time, function and place. */
export const formatTop = (profile: CpuProfile, top: number): ReadonlyArray<string> => {
  const { total, functions } = selfTimes(profile)
  const busy = functions.filter((f) => !isIdle(f))
  const busyMicros = busy.reduce((sum, f) => sum + f.micros, 0)
  const ms = (micros: number) => (micros / 1000).toFixed(1)
  return [
    `${ms(total)} ms sampled, ${ms(busyMicros)} ms busy (not idle); top ${Math.min(top, busy.length)} of ${busy.length} functions by self time`,
    ...busy.slice(0, top).map((f) =>
      `${ms(f.micros).padStart(10)} ms ${(busyMicros === 0 ? 0 : (100 * f.micros) / busyMicros).toFixed(1).padStart(5)} %  ${f.function}`)
  ]
}

/** The `.cpuprofile` files at `path` or under it (what `npm run bench -- --profile DIR` leaves: one per daemon), sorted by path. */
export const profilesUnder = (path: string): ReadonlyArray<string> =>
  fs.statSync(path).isDirectory()
    ? fs.readdirSync(path).sort().flatMap((e) => profilesUnder(join(path, e)))
    : path.endsWith(".cpuprofile") ? [path] : []

/** `formatTop` of a profile file. */
export const topOfFile = (file: string, top: number): ReadonlyArray<string> =>
  formatTop(JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile, top)
