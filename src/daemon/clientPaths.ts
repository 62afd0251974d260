/**
 * The PATHs of `makuo send|sync|check` as the client typed them. A relative PATH starts at the client's current
 * directory when that lies inside the base (`cd /var/www/htdocs && makuo send index.html`, as rsync reads it),
 * else at the base (as msync reads it); an absolute one is taken as it is (it must lie inside the base).
 */
import * as fs from "node:fs"
import * as posix from "node:path/posix"

/** `dir` as a path below `base` ("" for the base itself), or undefined when it lies outside. */
const below = (base: string, dir: string): string | undefined =>
  dir === base ? "" : dir.startsWith(base.endsWith("/") ? base : `${base}/`) ? dir.slice(base.length).replace(/^\//, "") : undefined

/**
 * Where the client stands, spelled with the base's own prefix; undefined outside the base. A client's cwd is a
 * physical path, so a base reached through a symlink is compared by its real path too.
 */
export const cwdInBase = (base: string, cwd: string | undefined): string | undefined => {
  if (cwd === undefined) return undefined
  const inside = below(base, cwd) ?? realBelow(base, cwd)
  return inside === undefined ? undefined : inside === "" ? base : posix.join(base, inside)
}

const realBelow = (base: string, cwd: string) => {
  try {
    return below(fs.realpathSync(base), cwd)
  } catch {
    return undefined
  }
}

/** The PATHs as the daemon takes them: absolute, or relative to its base. */
export const resolvePaths = (base: string, cwd: string | undefined, paths: ReadonlyArray<string>): ReadonlyArray<string> => {
  const from = cwdInBase(base, cwd)
  return paths.map((p) => (p.startsWith("/") || from === undefined ? p : posix.join(from, p)))
}

const exists = (path: string) => {
  try {
    fs.lstatSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Why `typed` was not found, and the path that would have named an existing file when there is one: the
 * reading from the base when the client stood inside it, and the reverse.
 */
export const notFoundHint = (base: string, cwd: string | undefined, typed: string): string => {
  const where = `not found in the base ${base}`
  if (typed.startsWith("/")) return where
  const from = cwdInBase(base, cwd)
  if (from !== undefined) {
    const fromBase = posix.join(base, typed)
    const meant = below(base, fromBase) !== undefined && exists(fromBase) ? `; did you mean ${posix.relative(from, fromBase) || "."} (${fromBase})?` : ""
    return `${where} (a relative PATH starts at the current directory ${from})${meant}`
  }
  const fromCwd = cwd === undefined ? undefined : posix.join(cwd, typed)
  const inside = fromCwd === undefined ? undefined : below(base, fromCwd)
  const meant = inside !== undefined && inside !== "" && exists(fromCwd!) ? `; did you mean ${inside}?` : ""
  return `${where} (a relative PATH starts at the base when the current directory is outside it)${meant}`
}
