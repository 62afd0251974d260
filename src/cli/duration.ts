import { Duration, Either } from "effect"

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** `300`, `300s`, `5m`, `1500ms`, `1h`: a bare number is seconds. */
export const parseDuration = (text: string): Either.Either<Duration.Duration, string> => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (m === null) return Either.left(`'${text}' is not a duration (examples: 300s, 5m, 1500ms)`)
  const ms = Number(m[1]) * units[m[2] ?? "s"]!
  return ms > 0 ? Either.right(Duration.millis(ms)) : Either.left(`'${text}' must be longer than zero`)
}

/** Compact human form: `45s`, `3m 2s`, `2h 5m`. */
export const formatAge = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`
}

/** A clock offset, signed (+ ahead): `+0.3 ms`, `-2.5 s`. */
export const formatOffset = (ms: number): string => {
  const a = Math.abs(ms)
  return `${ms < 0 ? "-" : "+"}${a >= 1000 ? `${(a / 1000).toFixed(1)} s` : `${a.toFixed(1)} ms`}`
}
