/**
 * A flood repeats the same complaint thousands of times a second: one log line per kind and period, the next one
 * saying how many were held back. Kinds are a fixed set chosen by the caller (never a peer's address or path), so
 * the table stays as small as the code that uses it.
 */
export const PERIOD_MS = 10_000

export const rateLimitedLog = <K extends string>(log: (message: string) => void, periodMs = PERIOD_MS) => {
  const last = new Map<K, { at: number; suppressed: number }>()
  return (kind: K, message: string, now: number): void => {
    const r = last.get(kind)
    if (r !== undefined && now - r.at < periodMs) return void r.suppressed++
    log(r === undefined || r.suppressed === 0 ? message : `${message} (and ${r.suppressed} more like it in the last ${periodMs / 1000} s)`)
    last.set(kind, { at: now, suppressed: 0 })
  }
}
