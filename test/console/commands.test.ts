import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { parseConsoleAddress, passwordlessRefusal } from "../../src/console/address.js"
import { parseCommand, tokenize } from "../../src/console/commands.js"
import { makeLineReader } from "../../src/console/lineReader.js"
import { passwordFromFile, passwordMatches } from "../../src/console/password.js"

describe("console command lines", () => {
  it("split on spaces; a trailing backslash escapes the space", () => {
    expect(tokenize("send  -r   tree")).toEqual(["send", "-r", "tree"])
    expect(tokenize("send tree/sp\\ ace.txt")).toEqual(["send", "tree/sp ace.txt"])
    expect(tokenize("send a\\  b")).toEqual(["send", "a ", "b"])
    expect(tokenize("echo\ttab")).toEqual(["echo\ttab"])
    expect(tokenize("")).toEqual([])
  })

  it("parse transfer options like getopt, the last path counting", () => {
    expect(parseCommand("send -rn -t node2 tree")).toMatchObject({ _tag: "Transfer", operation: "send", recursive: true, dryRun: true, targets: ["node2"], path: "tree" })
    expect(parseCommand("sync -tnode3 a b")).toMatchObject({ operation: "sync", targets: ["node3"], path: "b" })
    expect(parseCommand("send a -n")).toMatchObject({ dryRun: true, path: "a" })
    expect(parseCommand("send -r")).toMatchObject({ recursive: true, path: undefined })
    expect(parseCommand("md5 -r x")).toMatchObject({ operation: "check", recursive: true, path: "x" })
    expect(parseCommand("check -n x")).toMatchObject({ operation: "check", dryRun: false })
    expect(parseCommand("send -- -odd")).toMatchObject({ path: "-odd" })
  })

  it("explain misuse instead of running anything", () => {
    expect(parseCommand("send")).toEqual(expect.objectContaining({ _tag: "Usage", lines: ["usage: send  [-r] [-t host] [-n] [path]"] }))
    // makuosan-v7.md E27: dsync without -r and without a path deletes nothing
    expect(parseCommand("dsync")._tag).toBe("Usage")
    expect(parseCommand("send -x a")).toMatchObject({ _tag: "Usage", lines: ["invalid option -- x", expect.any(String)] })
    expect(parseCommand("send -t")).toMatchObject({ _tag: "Usage", lines: ["option requires an argument -- t", expect.any(String)] })
    expect(parseCommand("send -g www a")._tag).toBe("Usage")
    expect(parseCommand("exclude add")._tag).toBe("Usage")
    expect(parseCommand("exclude list x")._tag).toBe("Usage")
    expect(parseCommand("frobnicate now")).toMatchObject({ _tag: "Unknown", word: "frobnicate" })
  })

  it("parse the small commands", () => {
    expect(parseCommand("")._tag).toBe("Empty")
    expect(parseCommand("   ")._tag).toBe("Empty")
    for (const q of ["quit", "exit", "bye"]) expect(parseCommand(q)._tag).toBe("Quit")
    expect(parseCommand("loglevel 3")).toMatchObject({ level: 3 })
    expect(parseCommand("loglevel x")).toMatchObject({ level: 0 })
    expect(parseCommand("alive on")).toMatchObject({ on: true })
    expect(parseCommand("alive")).toMatchObject({ on: undefined })
    expect(parseCommand("exclude add *.log")).toMatchObject({ _tag: "ExcludeAdd", pattern: "*.log" })
    expect(parseCommand("echo a b")).toMatchObject({ _tag: "Echo", words: ["a", "b"] })
  })
})

describe("console framing", () => {
  it("lines end at LF, text ends at CR, partial lines wait for the rest", () => {
    const read = makeLineReader()
    expect(read(Buffer.from("alive on\r\nlog"))).toEqual({ _tag: "Lines", lines: [Buffer.from("alive on")] })
    expect(read(Buffer.from("level 1\rjunk\n\n"))).toEqual({ _tag: "Lines", lines: [Buffer.from("loglevel 1"), Buffer.from("")] })
  })

  it("a line over 1024 bytes is an overflow, with or without its LF", () => {
    expect(makeLineReader()(Buffer.alloc(1025, 0x61))._tag).toBe("Overflow")
    expect(makeLineReader()(Buffer.concat([Buffer.alloc(1025, 0x61), Buffer.from("\n")]))._tag).toBe("Overflow")
    expect(makeLineReader()(Buffer.concat([Buffer.alloc(1024, 0x61), Buffer.from("\n")]))._tag).toBe("Lines")
  })
})

describe("console settings", () => {
  it("addresses: tcp:HOST:PORT or unix:PATH", () => {
    expect(parseConsoleAddress("tcp:127.0.0.1:5000")).toEqual(Either.right({ _tag: "Tcp", host: "127.0.0.1", port: 5000 }))
    expect(parseConsoleAddress("unix:/run/m.sock")).toEqual(Either.right({ _tag: "Unix", path: "/run/m.sock" }))
    for (const bad of ["tcp:localhost:5000", "tcp:127.0.0.1:70000", "127.0.0.1:5000", "unix:", "tcp:127.0.0.1"]) {
      expect(Either.isLeft(parseConsoleAddress(bad)), bad).toBe(true)
    }
  })

  it("a TCP console needs a password, on loopback too unless explicitly opted out; a unix socket has its file mode", () => {
    const at = (text: string) => Either.getOrThrow(parseConsoleAddress(text))
    expect(passwordlessRefusal(at("tcp:127.0.0.1:5000"), false)).toContain("--console-password-file FILE")
    expect(passwordlessRefusal(at("tcp:127.0.0.1:5000"), false)).toContain("--console-no-password")
    expect(passwordlessRefusal(at("tcp:127.0.0.1:5000"), true)).toBeUndefined()
    // the opt-in is for loopback only: off it, anyone on the network would reach the console
    expect(passwordlessRefusal(at("tcp:0.0.0.0:5000"), true)).toBe("a console off loopback needs --console-password-file")
    expect(passwordlessRefusal(at("tcp:10.0.0.5:5000"), false)).toBe("a console off loopback needs --console-password-file")
    expect(passwordlessRefusal(at("unix:/run/m.sock"), false)).toBeUndefined()
  })

  it("password file: 4 to 63 bytes, the password is its first line", () => {
    const digest = Either.getOrThrow(passwordFromFile(Buffer.from("s3cret\r\nignored\n")))
    expect(passwordMatches(digest, Buffer.from("s3cret"))).toBe(true)
    expect(passwordMatches(digest, Buffer.from("s3cre"))).toBe(false)
    expect(passwordMatches(digest, Buffer.from("s3cret\r\n"))).toBe(false)
    expect(Either.isLeft(passwordFromFile(Buffer.from("abc")))).toBe(true)
    expect(Either.isLeft(passwordFromFile(Buffer.from("\nabcdef")))).toBe(true)
    expect(Either.isLeft(passwordFromFile(Buffer.alloc(64, 0x61)))).toBe(true)
    expect(Either.isRight(passwordFromFile(Buffer.alloc(63, 0x61)))).toBe(true)
  })
})
