/**
 * Which names may travel on the wire and reach the disk. A path is a list of plain components below the base
 * dir: no absolute paths, no `..`, no empty components, no NUL or backslash, no component over 255 bytes
 * (NAME_MAX): a received path can never name anything outside the base, nor an entry a C program would read
 * differently (a NUL ends it early; a backslash is a separator elsewhere). `.` components are dropped.
 */
import { Data, Either } from "effect"
import { utf8Length } from "../protocol/text.js"

export class PathRefused extends Data.TaggedError("PathRefused")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `refused path '${this.path}': ${this.reason}`
  }
}

export const NAME_MAX = 255
export const PATH_MAX = 4095

/** The components of a relative wire path; a single trailing `/` is tolerated (makuosan strips it). */
export const splitRelative = (path: string): Either.Either<ReadonlyArray<string>, PathRefused> => {
  const refuse = (reason: string) => Either.left(new PathRefused({ path, reason }))
  if (path.includes("\u0000")) return refuse("contains NUL")
  if (path.includes("\\")) return refuse("contains a backslash")
  if (path.startsWith("/")) return refuse("absolute path")
  if (utf8Length(path) > PATH_MAX) return refuse(`longer than ${PATH_MAX} bytes`)
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path
  const parts: Array<string> = []
  for (const part of trimmed.split("/")) {
    if (part === "") return refuse("empty component")
    if (part === "..") return refuse("'..' component")
    if (utf8Length(part) > NAME_MAX) return refuse(`component longer than ${NAME_MAX} bytes`)
    if (part !== ".") parts.push(part)
  }
  return Either.right(parts)
}

/** A relative wire path in the one spelling the store compares by: components joined by `/`, the base itself `.`. */
export const normalRelative = (path: string): Either.Either<string, PathRefused> =>
  Either.map(splitRelative(path), (parts) => (parts.length === 0 ? "." : parts.join("/")))

/**
 * Whether `path` is printable ASCII already in its one spelling and within the limits: components joined by single
 * `/`, none empty, `.` or `..`, no backslash, none over NAME_MAX, the whole at most PATH_MAX. What `splitRelative`
 * accepts and leaves as it is, found without splitting: the scan's own paths, looked at again once per file.
 */
export const isPlainRelative = (path: string): boolean => {
  if (path.length === 0 || path.length > PATH_MAX) return false
  let start = 0
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : SLASH
    if (c === SLASH) {
      const n = i - start
      if (n === 0 || n > NAME_MAX || (path.charCodeAt(start) === DOT && (n === 1 || (n === 2 && path.charCodeAt(start + 1) === DOT)))) return false
      start = i + 1
    } else if (c < 0x20 || c > 0x7e || c === BACKSLASH) return false
  }
  return true
}

const SLASH = 0x2f
const DOT = 0x2e
const BACKSLASH = 0x5c
