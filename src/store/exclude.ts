/**
 * makuosan's exclude matching (makuosan-v7.md §10): `fnmatch(pattern, candidate, FNM_PATHNAME)` against
 * `<base>/<path>` and each of its suffixes that starts after a `/`, down to the basename; directories are
 * tested with and without a trailing `/`. makuosan's quirk is kept: the suffix scan for a pattern stops once
 * the suffix is shorter than the pattern text.
 *
 * One addition: rsync's anchored form. makuosan tests `/cache2` against `<base>/...` and its suffixes, none of
 * which it can match (an absolute pattern works there only written with the base, `/var/www/cache2`), so an rsync
 * user's `--exclude /cache2` would exclude nothing — and a `--delete` would then delete the member's `cache2`.
 * Here a pattern that starts with `/` is also tested against `/<path>`: `/cache2` is `cache2` directly under the
 * base, `/a/*.tmp` the `.tmp` files directly in `a`.
 */

const classBody = (pattern: string, start: number): { source: string; end: number } | undefined => {
  let i = start
  let negate = false
  if (pattern[i] === "!" || pattern[i] === "^") (negate = true), i++
  let body = ""
  let first = true
  while (i < pattern.length && (first || pattern[i] !== "]")) {
    const c = pattern[i]!
    if (c === "\\" && i + 1 < pattern.length) body += "\\" + pattern[++i]!
    else if (c === "-" && !first && pattern[i + 1] !== "]") body += "-"
    else body += /[\w]/.test(c) ? c : "\\" + c
    first = false
    i++
  }
  if (i >= pattern.length) return undefined
  return { source: negate ? `(?!/)[^${body}]` : `(?!/)[${body}]`, end: i }
}

type Token = { readonly star: true } | { readonly star: false; readonly test: (c: string) => boolean }

const literal = (c: string): Token => ({ star: false, test: (x) => x === c })
const STAR: Token = { star: true }
const ANY: Token = { star: false, test: (x) => x !== "/" }

/**
 * One path segment (the pattern's `/` are literal and must meet the candidate's) matched in O(pattern × name)
 * at worst: a mismatch goes back to the last `*` only, never to every earlier one. A backtracking regular
 * expression would take exponential time on a pattern like `*a*a*a*a*a*b` — and exclude patterns arrive from
 * any peer in a DSYNC.
 */
const matchSegment = (tokens: ReadonlyArray<Token>, s: string): boolean => {
  let p = 0
  let i = 0
  let starP = -1
  let starI = 0
  while (i < s.length) {
    const t = tokens[p]
    if (t !== undefined && !t.star && t.test(s[i]!)) p++, i++
    else if (t !== undefined && t.star) (starP = p++), (starI = i)
    else if (starP >= 0) (p = starP + 1), (i = ++starI)
    else return false
  }
  while (tokens[p]?.star === true) p++
  return p === tokens.length
}

/** fnmatch with FNM_PATHNAME: `*`, `?` and `[...]` never match `/`. */
export const compilePattern = (pattern: string): { readonly test: (candidate: string) => boolean } => {
  const segments: Array<Array<Token>> = [[]]
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    const segment = segments.at(-1)!
    if (c === "/") segments.push([])
    else if (c === "*") segment.push(STAR)
    else if (c === "?") segment.push(ANY)
    else if (c === "[") {
      const cls = classBody(pattern, i + 1)
      if (cls === undefined) segment.push(literal("["))
      else {
        // one character against a character class: no backtracking possible
        const re = new RegExp(`^${cls.source}$`, "s")
        segment.push({ star: false, test: (x) => re.test(x) })
        i = cls.end
      }
    } else if (c === "\\" && i + 1 < pattern.length) segment.push(literal(pattern[++i]!))
    else segment.push(literal(c))
  }
  return {
    test: (candidate) => {
      const parts = candidate.split("/")
      return parts.length === segments.length && parts.every((part, k) => matchSegment(segments[k]!, part))
    }
  }
}

export interface Exclude {
  readonly patterns: ReadonlyArray<string>
  /** Whether `rel` (relative to the base) is excluded; `directory` adds the trailing-`/` test. */
  readonly excludes: (rel: string, directory: boolean) => boolean
}

export const makeExclude = (base: string, patterns: ReadonlyArray<string>): Exclude => {
  const compiled = patterns.map((p) => ({ text: p, re: compilePattern(p) }))
  const matches = (candidate: string) =>
    compiled.some(({ re, text }) => {
      for (let at = 0; ; ) {
        const suffix = candidate.slice(at)
        if (suffix.length < text.length) return false
        if (re.test(suffix)) return true
        const slash = candidate.indexOf("/", at)
        if (slash < 0) return false
        at = slash + 1
      }
    })
  const anchored = compiled.filter(({ text }) => text.startsWith("/"))
  const matchesAnchored = (candidate: string) => anchored.some(({ re }) => re.test(candidate))
  return {
    patterns,
    excludes: (rel, directory) => {
      if (compiled.length === 0) return false
      const candidate = `${base}/${rel}`
      return matches(candidate) || (directory && matches(candidate + "/")) ||
        matchesAnchored(`/${rel}`) || (directory && matchesAnchored(`/${rel}/`))
    }
  }
}

/**
 * The patterns as the members get them (a DSYNC, a transaction's scope): each anchored pattern (`/cache2`) also
 * in makuosan's absolute form (`<base>/cache2`), which a makuosan member with the same base dir (the usual
 * cluster) matches; and each absolute one written with our base (`<base>/cache2`) also anchored (`/cache2`): a
 * makuo member matches the anchored form against its own base, whatever its path — else a member whose base is
 * elsewhere would not spare what we excluded, and a `--delete` would remove it there.
 */
export const patternsForMembers = (base: string, patterns: ReadonlyArray<string>): ReadonlyArray<string> =>
  patterns.flatMap((p) =>
    base === "/" || !p.startsWith("/") ? [p] : p.startsWith(`${base}/`) ? [p, p.slice(base.length)] : [p, `${base}${p}`]
  )
