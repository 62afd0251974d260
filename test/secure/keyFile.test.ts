import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { formatKeyLine, keyFileStatProblem, parseKeyFile, readKeyFile } from "../../src/secure/keyFile.js"
import { generateKey } from "../../src/secure/keys.js"

const tempDir = () => fs.mkdtempSync(join(tmpdir(), "makuo-keys-"))
const euid = process.geteuid?.() ?? 0

const write = (dir: string, text: string, mode = 0o600) => {
  const path = join(dir, "keys")
  fs.writeFileSync(path, text, { mode })
  fs.chmodSync(path, mode)
  return path
}

const errorOf = <A>(r: Either.Either<A, { message: string }>) => (Either.isLeft(r) ? r.left.message : "no error")

describe("key file", () => {
  it("sends under the first key and accepts all, skipping comments and blank lines", () => {
    const [a, b] = [generateKey(), generateKey()]
    const ring = Either.getOrThrow(parseKeyFile("k", `# cluster keys\n\n${formatKeyLine(b)}   # new\n${formatKeyLine(a)}\n`))
    expect(ring.sending).toEqual(b)
    expect([...ring.accepted.keys()]).toEqual([b.id, a.id])
    expect(ring.accepted.get(a.id)).toEqual(a)
  })

  it("names the file and line of every parse error", () => {
    const good = formatKeyLine(generateKey())
    const cases: Array<[string, string]> = [
      [`${good}\nmakuo-key-v2 00000001 ${"A".repeat(43)}=`, "k:2: expected 'makuo-key-v1 <id> <secret>'"],
      [`${good}\n\nmakuo-key-v1 00000001`, "k:3: expected 3 fields"],
      ["makuo-key-v1 1 AAAA", "k:1: the key id (second field) is not 8 hex digits"],
      ["makuo-key-v1 0000000g AAAA", "k:1: the key id (second field) is not 8 hex digits"],
      [`makuo-key-v1 00000001 ${Buffer.alloc(31).toString("base64")}`, "k:1: key 00000001: the secret is not 32 bytes"],
      [`makuo-key-v1 00000001 ${"*".repeat(44)}`, "k:1: key 00000001: the secret is not 32 bytes"],
      [`${good}\n${good}`, `k:2: key id ${good.split(" ")[1]} is listed twice`],
      ["# nothing\n", "k: holds no key"]
    ]
    for (const [text, message] of cases) expect(errorOf(parseKeyFile("k", text))).toContain(`key file ${message}`)
  })

  it("never writes a line's contents into an error: a malformed line may be a secret", () => {
    const secret = Buffer.from(generateKey().secret).toString("base64")
    const id = "q0o9vT3Z"
    for (const text of [secret, `${secret} makuo-key-v1`, `makuo-key-v1 ${secret} 00000001`, `makuo-key-v1 ${id}x ${secret}`, `x${secret}y`]) {
      const message = errorOf(parseKeyFile("k", text))
      expect(message).toMatch(/^key file k:1: /)
      expect(message).not.toContain(secret.slice(0, 8))
      expect(message).not.toContain(id)
    }
  })

  it("reads a file of mode 0600 owned by this process", () => {
    const key = generateKey()
    const ring = Either.getOrThrow(readKeyFile(write(tempDir(), formatKeyLine(key) + "\n")))
    expect(ring.sending).toEqual(key)
  })

  it("refuses a file group or others may read or write, a symlink, a directory and a missing file", () => {
    const dir = tempDir()
    const line = formatKeyLine(generateKey())
    for (const mode of [0o640, 0o604, 0o620, 0o602]) {
      expect(errorOf(readKeyFile(write(dir, line, mode)))).toMatch(/is accessible to group or others \(mode 0[0-7]{3}\); chmod 600 it/)
    }
    const target = write(dir, line)
    fs.symlinkSync(target, join(dir, "link"))
    expect(errorOf(readKeyFile(join(dir, "link")))).toContain(`${join(dir, "link")}: is a symlink`)
    expect(errorOf(readKeyFile(dir))).toContain("is not a regular file")
    expect(errorOf(readKeyFile(join(dir, "none")))).toContain("does not exist")
  })

  it("refuses a file owned by another uid, root's own included when the process is not root", () => {
    expect(keyFileStatProblem({ isFile: true, mode: 0o100600, uid: euid + 1 }, euid)).toContain(`owned by uid ${euid + 1}, not by this process's uid ${euid}`)
    expect(keyFileStatProblem({ isFile: true, mode: 0o100600, uid: 0 }, 1000)).toContain("owned by uid 0")
    expect(keyFileStatProblem({ isFile: true, mode: 0o100400, uid: 0 }, 0)).toBeUndefined()
  })

  it.runIf(euid === 0)("as root, refuses a real file chowned to another user", () => {
    const path = write(tempDir(), formatKeyLine(generateKey()))
    fs.chownSync(path, 65534, 65534)
    expect(errorOf(readKeyFile(path))).toContain("owned by uid 65534")
  })
})
