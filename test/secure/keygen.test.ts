import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BIN } from "../../scripts/lib/loopbackCluster.js"
import { parseKeyFile, readKeyFile } from "../../src/secure/keyFile.js"

const keygen = (...args: Array<string>) => spawnSync(process.execPath, [BIN, "keygen", ...args], { encoding: "utf8" })

describe("makuo keygen", () => {
  it("prints a fresh key line each time", () => {
    const lines = [0, 1].map(() => execFileSync(process.execPath, [BIN, "keygen"], { encoding: "utf8" }))
    const rings = lines.map((l) => Either.getOrThrow(parseKeyFile("stdout", l)))
    expect(lines[0]).toMatch(/^makuo-key-v1 [0-9a-f]{8} [A-Za-z0-9+/]{43}=\n$/)
    expect(rings[0]!.sending.id).not.toBe(rings[1]!.sending.id)
    expect(Buffer.from(rings[0]!.sending.secret)).not.toEqual(Buffer.from(rings[1]!.sending.secret))
  })

  it("writes FILE with mode 0600 whatever the umask, which the daemon's key file check accepts", () => {
    const path = join(fs.mkdtempSync(join(tmpdir(), "makuo-keygen-")), "cluster.key")
    const r = spawnSync("sh", ["-c", `umask 000 && exec "$0" "$1" keygen "$2"`, process.execPath, BIN, path], { encoding: "utf8" })
    expect(r.status).toBe(0)
    expect(r.stdout).toBe("")
    expect(fs.statSync(path).mode & 0o777).toBe(0o600)
    expect(Either.isRight(readKeyFile(path))).toBe(true)
  })

  it("refuses to overwrite an existing file, exit 2, and leaves it as it was", () => {
    const path = join(fs.mkdtempSync(join(tmpdir(), "makuo-keygen-")), "cluster.key")
    fs.writeFileSync(path, "precious\n", { mode: 0o600 })
    const r = keygen(path)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(`${path} exists; keygen never overwrites a key file`)
    expect(fs.readFileSync(path, "utf8")).toBe("precious\n")
  })
})
