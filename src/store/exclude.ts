/**
 * makuosan's exclude matching (spec §10): `fnmatch(pattern, candidate, FNM_PATHNAME)` against
 * `<base>/<path>` and each of its suffixes that starts after a `/`, down to the basename; directories are
 * tested with and without a trailing `/`. makuosan's quirk is kept: the suffix scan for a pattern stops once
 * the suffix is shorter than the pattern text.
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

/** An anchored regular expression equivalent to fnmatch with FNM_PATHNAME. */
export const compilePattern = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === "*") source += "[^/]*"
    else if (c === "?") source += "[^/]"
    else if (c === "[") {
      const cls = classBody(pattern, i + 1)
      if (cls === undefined) source += "\\["
      else (source += cls.source), (i = cls.end)
    } else if (c === "\\" && i + 1 < pattern.length) source += escape(pattern[++i]!)
    else source += escape(c)
  }
  return new RegExp(`^${source}$`, "s")
}

const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")

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
  return {
    patterns,
    excludes: (rel, directory) => {
      if (compiled.length === 0) return false
      const candidate = `${base}/${rel}`
      return matches(candidate) || (directory && matches(candidate + "/"))
    }
  }
}
