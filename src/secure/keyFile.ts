/**
 * The group key file of native mode. One key a line, `makuo-key-v1 <id> <secret>`: the id is 8 hex digits (the
 * key id of every datagram sealed under it), the secret 32 bytes in base64. `#` starts a comment; blank lines
 * are ignored. A daemon seals under the first key and accepts every key listed, so keys rotate without
 * downtime: add the new key everywhere, then put it first everywhere, then remove the old one.
 *
 * The file holds the cluster's only secret, so it is refused unless it is a regular file (not a symlink)
 * owned by the reading process's effective uid with no permission bit for group or others.
 */
import { Data, Either } from "effect"
import * as fs from "node:fs"
import { type GroupKey, type KeyId, KEY_BYTES, keyId } from "./keys.js"

export class KeyFileError extends Data.TaggedError("KeyFileError")<{
  readonly path: string
  /** 1-based line of a parse error; absent for errors about the file as a whole */
  readonly line?: number
  readonly detail: string
}> {
  override get message() {
    return `key file ${this.path}${this.line === undefined ? "" : `:${this.line}`}: ${this.detail}`
  }
}

/** The keys of one file: seal under `sending`, accept any of `accepted` (which includes `sending`). */
export interface KeyRing {
  readonly sending: GroupKey
  readonly accepted: ReadonlyMap<KeyId, GroupKey>
}

export const KEY_LINE_TAG = "makuo-key-v1"

export const formatKeyLine = (key: GroupKey): string =>
  `${KEY_LINE_TAG} ${key.id.toString(16).padStart(8, "0")} ${Buffer.from(key.secret).toString("base64")}`

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Errors name the line, never echo it: a malformed line may well be (or hold) a secret, and errors reach logs. */
const parseLine = (text: string): Either.Either<GroupKey | undefined, string> => {
  const content = text.replace(/#.*/, "").trim()
  if (content === "") return Either.right(undefined)
  const fields = content.split(/\s+/)
  if (fields[0] !== KEY_LINE_TAG) return Either.left(`expected '${KEY_LINE_TAG} <id> <secret>' (the line does not start with '${KEY_LINE_TAG}')`)
  if (fields.length !== 3) return Either.left(`expected 3 fields ('${KEY_LINE_TAG} <id> <secret>'), found ${fields.length}`)
  const [, id, secret] = fields as [string, string, string]
  if (!/^[0-9a-fA-F]{8}$/.test(id)) return Either.left("the key id (second field) is not 8 hex digits")
  const bytes = BASE64.test(secret) ? Buffer.from(secret, "base64") : undefined
  if (bytes === undefined || bytes.length !== KEY_BYTES || bytes.toString("base64") !== secret) {
    return Either.left(`key ${id}: the secret is not ${KEY_BYTES} bytes in base64 (make one with 'makuo keygen')`)
  }
  return Either.right({ id: keyId(parseInt(id, 16)), secret: new Uint8Array(bytes) })
}

/** Parses a key file's text; `path` only names the file in errors. */
export const parseKeyFile = (path: string, text: string): Either.Either<KeyRing, KeyFileError> => {
  const keys: Array<GroupKey> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLine(lines[i]!)
    if (Either.isLeft(parsed)) return Either.left(new KeyFileError({ path, line: i + 1, detail: parsed.left }))
    const key = parsed.right
    if (key === undefined) continue
    if (keys.some((k) => k.id === key.id)) {
      return Either.left(new KeyFileError({ path, line: i + 1, detail: `key id ${key.id.toString(16).padStart(8, "0")} is listed twice` }))
    }
    keys.push(key)
  }
  const sending = keys[0]
  if (sending === undefined) return Either.left(new KeyFileError({ path, detail: "holds no key (make one with 'makuo keygen')" }))
  return Either.right({ sending, accepted: new Map(keys.map((k) => [k.id, k])) })
}

/** What the ownership and permission rule looks at, from `fstat`. */
export interface KeyFileStat {
  readonly isFile: boolean
  readonly mode: number
  readonly uid: number
}

/**
 * Why a key file may not be used, or undefined when it may. `runAs` is the uid a root daemon switches to with
 * `--user`: that account may own the file too (it holds the keys in memory anyway), so it can reread the file
 * on SIGHUP; a root-owned file is read at start, before the switch, and rereading it then needs a restart.
 */
export const keyFileStatProblem = (stat: KeyFileStat, euid: number, runAs?: number): string | undefined => {
  if (!stat.isFile) return "is not a regular file"
  if (stat.uid !== euid && stat.uid !== runAs) {
    return `is owned by uid ${stat.uid}, not by this process's uid ${euid}${runAs === undefined ? "" : ` nor by the --user uid ${runAs}`}`
  }
  if ((stat.mode & 0o077) !== 0) {
    return `is accessible to group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}); chmod 600 it`
  }
  return undefined
}

const euid = (): number => process.geteuid?.() ?? 0

/**
 * Reads and parses a key file with the ownership and permission rule. The file is opened without following a
 * symlink and checked with `fstat` on the open descriptor, so what is checked is what is read.
 */
export const readKeyFile = (path: string, runAs?: number): Either.Either<KeyRing, KeyFileError> => {
  let fd: number
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const detail = code === "ELOOP" ? "is a symlink; name the file itself" : code === "ENOENT" ? "does not exist" : String((e as Error).message)
    return Either.left(new KeyFileError({ path, detail }))
  }
  try {
    const st = fs.fstatSync(fd)
    const problem = keyFileStatProblem({ isFile: st.isFile(), mode: st.mode, uid: st.uid }, euid(), runAs)
    if (problem !== undefined) return Either.left(new KeyFileError({ path, detail: problem }))
    return parseKeyFile(path, fs.readFileSync(fd, "utf8"))
  } catch (e) {
    return Either.left(new KeyFileError({ path, detail: (e as Error).message }))
  } finally {
    fs.closeSync(fd)
  }
}
