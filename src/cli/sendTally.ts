/**
 * What the client has seen of a job so far: counts per outcome, overall and per host, the files reported and the
 * last `Progress`. The live footer and the line printed when the job is broken off (Ctrl-C) read it, so their
 * counts are the summary's.
 */
import type { ControlEvent } from "../control/Protocol.js"
import type { JobProgress } from "../domain/job.js"
import type { HostOutcome } from "../domain/outcome.js"
import { memberLabel, sharedNames } from "../domain/member.js"
import { type Counts, countOf, countsText, noCounts } from "./sendRender.js"
import { displayName } from "../protocol/text.js"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

export interface Tally {
  readonly event: (event: ControlEvent) => void
  /** Files reported (every host's outcome known). */
  readonly files: () => number
  readonly counts: () => Counts
  /** Per host, by the name the report uses (`h2 (127.0.0.9)` when two hosts announce `h2`). */
  readonly hosts: () => ReadonlyMap<string, Counts>
  readonly progress: () => JobProgress | undefined
}

export const makeTally = (): Tally => {
  const counts: Mutable<Counts> = { ...noCounts }
  const hosts = new Map<string, Mutable<Counts>>()
  let files = 0
  let progress: JobProgress | undefined
  /** `n` files, each with these hosts' outcomes. */
  const count = (outcomes: ReadonlyArray<HostOutcome>, n: number) => {
    files += n
    const shared = sharedNames(outcomes)
    for (const h of outcomes) {
      const kind = countOf(h.outcome)
      counts[kind] += n
      const name = memberLabel(h, shared)
      const host = hosts.get(name) ?? { ...noCounts }
      host[kind] += n
      hosts.set(name, host)
    }
  }
  return {
    event: (e) => {
      switch (e._tag) {
        case "Progress":
          progress = e
          return
        case "SourceError":
          counts.sourceErrors++
          return
        case "File":
          return count(e.hosts, 1)
        case "Skipped":
          return count(e.hosts, e.files)
        default:
          return
      }
    },
    files: () => files,
    counts: () => counts,
    hosts: () => hosts,
    progress: () => progress
  }
}

/** Transfers named in a line; the rest are counted. */
export const NAMED = 4

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** The one line a broken-off job leaves: what was done, and what was in flight and broken off. */
export const interruptedLine = (t: Tally, elapsedMs: number, dryRun: boolean): string => {
  const done = t.files() === 0 && t.counts().sourceErrors === 0
    ? "nothing done"
    : `${t.files()} file${t.files() === 1 ? "" : "s"} done (${countsText(t.counts(), dryRun)})`
  const flying = t.progress()?.inFlight.map((f) => displayName(f.path)) ?? []
  const broken = flying.length === 0
    ? ""
    : `; broken off: ${flying.slice(0, NAMED).join(", ")}${flying.length > NAMED ? ` and ${flying.length - NAMED} more` : ""}`
  return `interrupted after ${seconds(elapsedMs)}: ${done}${broken}`
}
