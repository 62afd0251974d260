import { Clock, Duration, Effect, Schedule } from "effect"
import type { Endpoint } from "../net/Transport.js"

/** A member's session of someone's transfer is theirs by source and request id: its key in the session table. */
export const sessionKey = (from: Endpoint, reqid: number) => `${from.address}:${from.port}:${reqid}`

/**
 * Forks, for the caller's scope, the sweep that forgets sessions with no traffic for `idle` and releases what
 * they hold. It runs on a timer, whatever the traffic (makuosan only collects when idle: E35); a `busy` session
 * (work still running) is kept.
 */
export const collectIdle = <S extends { readonly lastSeen: number }>(
  sessions: Map<string, S>,
  idle: Duration.Duration,
  release: (session: S) => Effect.Effect<void> = () => Effect.void,
  busy: (session: S) => boolean = () => false
) =>
  Effect.forkScoped(Effect.repeat(
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.forEach(
        [...sessions.entries()].filter(([, s]) => !busy(s) && now - s.lastSeen >= Duration.toMillis(idle)),
        ([key, s]) => Effect.zipRight(Effect.sync(() => sessions.delete(key)), release(s)),
        { discard: true }
      )),
    Schedule.spaced(Duration.seconds(5))
  ))
