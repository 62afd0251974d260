/**
 * The daemon's one `SessionTable` of received sessions, shared by the SEND, MD5, DSYNC and DEL receivers: a
 * refusal is counted for `status` and logged (once per kind and period, whatever the flood), and a sweep on a
 * timer collects the silent sessions whatever the traffic (makuosan only collects when idle).
 */
import { Context, Duration, Effect, Layer, Runtime, Schedule } from "effect"
import type { Endpoint } from "../net/Transport.js"
import { Wire } from "../net/Wire.js"
import { rateLimitedLog } from "./rateLimitedLog.js"
import { type Kind, type KindPolicy, type Slot, SessionTable } from "./sessionTable.js"

export interface ReceiveLimits {
  readonly maxSessions: number
  readonly maxSessionsPerPeer: number
  /** Received files open at once: two descriptors each (the file and its directory); the descriptor budget. */
  readonly maxTempFiles: number
  /** Silence after which a session with data flowing is collected (`--session-timeout`). */
  readonly idleTimeout: Duration.Duration
  /** Silence after which a half-open session is collected (never longer than `idleTimeout`). */
  readonly halfOpenTimeout: Duration.Duration
}

/**
 * Twenty of makuosan's 500 ms retransmission intervals (its timers run up to ~1 s late on an idle node: still ten
 * in a row lost). A sender waiting for an answer retransmits all along; the one quiet wait of a live sender is
 * between an answered OPEN and its first DATA burst, behind the bursts of its other files at a low `--rate`,
 * which a few seconds cover. A forged half-open session gives its slot and descriptors back within seconds
 * instead of minutes.
 */
export const HALF_OPEN_TIMEOUT = Duration.seconds(10)

export interface ReceiveSessionsShape {
  readonly table: SessionTable
  /** A new session, or undefined when refused (counted and logged; `what` names it in the log). */
  readonly admit: <S extends Slot>(
    kind: Kind,
    policy: KindPolicy<S>,
    from: Endpoint,
    reqid: number,
    now: number,
    what: string,
    make: (slot: Slot) => S
  ) => S | undefined
  /** Takes `n` descriptors from the budget for `slot`; false when refused (counted and logged). */
  readonly hold: (slot: Slot, n: number, now: number, what: string) => boolean
}

export class ReceiveSessions extends Context.Tag("makuo/ReceiveSessions")<ReceiveSessions, ReceiveSessionsShape>() {}

export const make = (limits: ReceiveLimits) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const log = (message: string) => void runFork(Effect.logWarning(message))
    const notice = rateLimitedLog<"full" | "peer" | "descriptors">(log)
    const idleTimeoutMs = Duration.toMillis(limits.idleTimeout)
    const table = new SessionTable({
      maxSessions: limits.maxSessions,
      maxSessionsPerPeer: limits.maxSessionsPerPeer,
      maxDescriptors: 2 * limits.maxTempFiles,
      idleTimeoutMs,
      halfOpenTimeoutMs: Math.min(idleTimeoutMs, Duration.toMillis(limits.halfOpenTimeout))
    })

    const admit: ReceiveSessionsShape["admit"] = (kind, policy, from, reqid, now, what, make) => {
      const r = table.admit(kind, policy, from, reqid, now, make)
      if (typeof r !== "string") return r
      wire.refused("refusedSessions")
      if (r === "full") notice("full", `receive table full (${limits.maxSessions} sessions, --max-sessions); ignoring ${what} from ${from.address}`, now)
      else notice("peer", `${from.address} holds ${limits.maxSessionsPerPeer} receive sessions already (--max-sessions-per-peer); ignoring ${what}`, now)
      return undefined
    }

    const hold: ReceiveSessionsShape["hold"] = (slot, n, now, what) => {
      if (table.hold(slot, n)) return true
      wire.refused("refusedDescriptors")
      notice("descriptors", `${what} from ${slot.from.address}: the ${table.limits.maxDescriptors} descriptors of received sessions are in use (--max-temp-files ${limits.maxTempFiles})`, now)
      return false
    }

    // a sweep a few times per half-open timeout: a forged session lasts little longer than the timeout
    const every = Duration.millis(Math.max(100, Math.min(1000, table.limits.halfOpenTimeoutMs / 5)))
    yield* Effect.forkScoped(Effect.repeat(
      Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) => {
        const gone = table.collect(now)
        return gone.length === 0 ? Effect.void : Effect.logInfo(`collected ${gone.length} silent receive session(s): ${summary(gone)}`)
      }),
      Schedule.spaced(every)
    ))
    yield* Effect.addFinalizer(() => Effect.sync(() => table.clear()))
    return ReceiveSessions.of({ table, admit, hold })
  })

/** "send 3, check 1": what a sweep collected, by kind. */
const summary = (gone: ReadonlyArray<Slot>) => {
  const byKind = new Map<Kind, number>()
  for (const s of gone) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + 1)
  return [...byKind].map(([kind, n]) => `${kind} ${n}`).join(", ")
}

export const layer = (limits: ReceiveLimits) => Layer.scoped(ReceiveSessions, make(limits))
