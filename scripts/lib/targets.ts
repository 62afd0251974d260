/**
 * The open issues' speed targets, one table, judged on one bench run's rows: each target names the rows it reads,
 * the figure it takes from them (a ratio takes both its rows from the same run) and its bound. A target whose rows
 * the run did not measure (another K, no `--key`, no loss row, no rsync) is left out, not guessed. The issues:
 * #22 secure native mode, #23 tree transactions, #24 big files and memory (memory's targets are printed with each
 * row set's resident sets, `scripts/bench.ts`). They are set for the full run's workloads (2000 new files of 1-4 KiB,
 * 20 000 unchanged, one 200 MiB file CPU-bound, 50 MiB link-bound), not `--quick`'s.
 */

export type Mode = "v7" | "native"
export type ScenarioKey = "link" | "cpu"
export type WorkloadKey = "big" | "small" | "unchanged" | "huge"

/** What a target reads of a bench row. */
export interface Measured {
  readonly scenario: ScenarioKey
  readonly receivers: number
  readonly lossPercent: number
  readonly workload: WorkloadKey
  readonly mode: Mode
  readonly seconds: number
  readonly mbPerSecond: number
  readonly retransmittedPercent: number
  /** Goodput over the raw batched ceiling measured on the same link (big files, loss-free runs). */
  readonly linkShare: number | undefined
  readonly senderCpuSecondsPerGiB: number | undefined
  readonly receiverCpuSecondsPerGiB: number | undefined
  readonly senderCpuMicrosPerFile: number | undefined
  readonly receiverCpuMicrosPerFile: number | undefined
  readonly rsyncAllAtOnceRatio: number | undefined
}

export interface Verdict {
  readonly issue: 22 | 23 | 24
  /** The target and the row it was judged on. */
  readonly what: string
  readonly value: number
  readonly unit: string
  readonly bound: Bound
  readonly met: boolean
}

type Bound = { readonly _tag: "AtLeast"; readonly limit: number } | { readonly _tag: "AtMost"; readonly limit: number }

interface Target {
  readonly issue: 22 | 23 | 24
  readonly what: string
  readonly unit: string
  readonly bound: Bound
  readonly applies: (r: Measured) => boolean
  /** The figure judged, from the row and, for a ratio, its partner in `rows`; undefined: not measured. */
  readonly figure: (r: Measured, rows: ReadonlyArray<Measured>) => number | undefined
}

const atLeast = (limit: number): Bound => ({ _tag: "AtLeast", limit })
const atMost = (limit: number): Bound => ({ _tag: "AtMost", limit })

/** The row of the same run that differs from `r` only in what `change` sets. */
const partner = (rows: ReadonlyArray<Measured>, r: Measured, change: Partial<Measured>) => {
  const want = { ...r, ...change }
  return rows.find((x) =>
    x.scenario === want.scenario && x.receivers === want.receivers && x.lossPercent === want.lossPercent &&
    x.workload === want.workload && x.mode === want.mode
  )
}

const lossFree = (r: Measured) => r.lossPercent === 0
const native = (r: Measured) => r.mode === "native"
const big = (r: Measured) => r.workload === "big"
const small = (r: Measured) => r.workload === "small"
const unchanged = (r: Measured) => r.workload === "unchanged"

export const TARGETS: ReadonlyArray<Target> = [
  {
    issue: 22, what: "native big file CPU-bound K = 1, goodput over v7's", unit: "×", bound: atLeast(1.0),
    applies: (r) => native(r) && big(r) && r.scenario === "cpu" && r.receivers === 1 && lossFree(r),
    figure: (r, rows) => {
      const v7 = partner(rows, r, { mode: "v7" })
      return v7 === undefined ? undefined : r.mbPerSecond / v7.mbPerSecond
    }
  },
  {
    issue: 22, what: "native big file CPU-bound, sender CPU", unit: "s/GiB", bound: atMost(5),
    applies: (r) => native(r) && big(r) && r.scenario === "cpu" && lossFree(r), figure: (r) => r.senderCpuSecondsPerGiB
  },
  {
    issue: 22, what: "native big file CPU-bound, busiest receiver's CPU", unit: "s/GiB", bound: atMost(6),
    applies: (r) => native(r) && big(r) && r.scenario === "cpu" && lossFree(r), figure: (r) => r.receiverCpuSecondsPerGiB
  },
  {
    issue: 24, what: "big file link-bound, share of the link", unit: "%", bound: atLeast(90),
    applies: (r) => big(r) && r.scenario === "link" && lossFree(r), figure: (r) => r.linkShare === undefined ? undefined : 100 * r.linkShare
  },
  {
    issue: 24, what: "big file, blocks sent twice without loss", unit: "%", bound: atMost(3),
    applies: (r) => big(r) && r.scenario === "cpu" && r.receivers <= 4 && lossFree(r), figure: (r) => r.retransmittedPercent
  },
  {
    issue: 24, what: "big file, blocks sent twice without loss", unit: "%", bound: atMost(10),
    applies: (r) => big(r) && r.scenario === "cpu" && r.receivers > 4 && lossFree(r), figure: (r) => r.retransmittedPercent
  },
  {
    issue: 24, what: "big file, blocks sent twice without loss", unit: "%", bound: atMost(1),
    applies: (r) => big(r) && r.scenario === "link" && lossFree(r), figure: (r) => r.retransmittedPercent
  },
  {
    issue: 24, what: "big file with 1 % loss, share of the loss-free goodput", unit: "%", bound: atLeast(85),
    applies: (r) => big(r) && r.lossPercent === 1,
    figure: (r, rows) => {
      const clean = partner(rows, r, { lossPercent: 0 })
      return clean === undefined ? undefined : (100 * r.mbPerSecond) / clean.mbPerSecond
    }
  },
  {
    issue: 23, what: "native small files, rsync to all at once over makuo", unit: "×", bound: atLeast(2),
    applies: (r) => native(r) && small(r) && lossFree(r), figure: (r) => r.rsyncAllAtOnceRatio
  },
  {
    issue: 23, what: "native small files CPU-bound K = 2, time", unit: "s", bound: atMost(0.2),
    applies: (r) => native(r) && small(r) && r.scenario === "cpu" && r.receivers === 2 && lossFree(r), figure: (r) => r.seconds
  },
  {
    issue: 23, what: "native small files link-bound K = 8, time over K = 1's", unit: "×", bound: atMost(1.3),
    applies: (r) => native(r) && small(r) && r.scenario === "link" && r.receivers === 8 && lossFree(r),
    figure: (r, rows) => {
      const one = partner(rows, r, { receivers: 1 })
      return one === undefined ? undefined : r.seconds / one.seconds
    }
  },
  {
    issue: 23, what: "native small files, sender CPU per new file", unit: "µs", bound: atMost(40),
    applies: (r) => native(r) && small(r) && lossFree(r), figure: (r) => r.senderCpuMicrosPerFile
  },
  {
    issue: 23, what: "native small files, busiest member's CPU per new file", unit: "µs", bound: atMost(80),
    applies: (r) => native(r) && small(r) && lossFree(r), figure: (r) => r.receiverCpuMicrosPerFile
  },
  {
    issue: 23, what: "native unchanged files, sender CPU per file", unit: "µs", bound: atMost(10),
    applies: (r) => native(r) && unchanged(r) && lossFree(r), figure: (r) => r.senderCpuMicrosPerFile
  },
  {
    issue: 23, what: "native unchanged files, busiest member's CPU per file", unit: "µs", bound: atMost(10),
    applies: (r) => native(r) && unchanged(r) && lossFree(r), figure: (r) => r.receiverCpuMicrosPerFile
  },
  {
    issue: 23, what: "native unchanged files K = 4, rsync to all at once over makuo", unit: "×", bound: atLeast(5),
    applies: (r) => native(r) && unchanged(r) && r.receivers === 4 && lossFree(r), figure: (r) => r.rsyncAllAtOnceRatio
  },
  {
    issue: 23, what: "native small files with 1 % loss, time over the loss-free time", unit: "×", bound: atMost(1.2),
    applies: (r) => native(r) && small(r) && r.lossPercent === 1,
    figure: (r, rows) => {
      const clean = partner(rows, r, { lossPercent: 0 })
      return clean === undefined ? undefined : r.seconds / clean.seconds
    }
  }
]

const meets = (value: number, bound: Bound) => (bound._tag === "AtLeast" ? value >= bound.limit : value <= bound.limit)

/** Every target the rows measure, judged, in the table's order and the rows' order within a target. */
export const judge = (rows: ReadonlyArray<Measured>): ReadonlyArray<Verdict> =>
  TARGETS.flatMap((t) =>
    rows.filter(t.applies).flatMap((r) => {
      const value = t.figure(r, rows)
      if (value === undefined || !Number.isFinite(value)) return []
      const where = `${r.scenario === "cpu" ? "CPU-bound" : "link-bound"}, K = ${r.receivers}${r.lossPercent > 0 ? `, ${r.lossPercent} % loss` : ""}${t.what.startsWith("native") ? "" : `, ${r.mode}`}`
      return [{ issue: t.issue, what: `${t.what} (${where})`, value, unit: t.unit, bound: t.bound, met: meets(value, t.bound) }]
    })
  )

const DIGITS: Readonly<Record<string, number>> = { "×": 2, "%": 1, "s": 2, "s/GiB": 1, "µs": 0 }
const shown = (x: number, unit: string) => `${x.toFixed(DIGITS[unit] ?? 2)}${unit === "×" ? "" : " "}${unit}`

/** One line: the figure, the bound, and met or by how much it is missed (over twice the bound: as a multiple). */
export const formatVerdict = (v: Verdict): string => {
  const limit = v.bound.limit
  const sign = v.bound._tag === "AtLeast" ? "≥" : "≤"
  const gap = v.bound._tag === "AtLeast" ? (limit - v.value) / limit : (v.value - limit) / limit
  const missed = v.bound._tag === "AtMost" && v.value >= 2 * limit
    ? `missed: ${(v.value / limit).toFixed(1)}× the bound`
    : `missed by ${(100 * gap).toFixed(0)} %`
  return `#${v.issue} ${v.what}: ${shown(v.value, v.unit)} (target ${sign} ${shown(limit, v.unit)}): ${v.met ? "met" : missed}`
}
