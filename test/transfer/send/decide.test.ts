import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import { RecvState } from "../../../src/protocol/v7/constants.js"
import type { LocalEntry } from "../../../src/store/FileStore.js"
import { decide } from "../../../src/transfer/send/decide.js"
import type { Mstat } from "../../../src/transfer/send/receiveMachine.js"

const m = (over: Partial<Mstat> = {}): Mstat => ({
  _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size: 10, mtime: 100, ctime: 1, path: "f", linkTarget: "", rdevHigh: 0, rdevLow: 0, ...over
})
const l = (over: Partial<LocalEntry> = {}): Option.Option<LocalEntry> =>
  Option.some({ kind: "file", mode: 0o100644, uid: 0, gid: 0, size: 10, mtime: 100, ctime: 5, rdev: 0, linkTarget: "", identity: { dev: 1, ino: 1 }, version: { size: 10, mtimeNs: 100_000_000_000n, ctimeNs: 5_000_000_000n }, ...over })

describe("update rule (makuosan-v7.md §5.2.5)", () => {
  it.each([
    ["missing", m(), Option.none(), RecvState.UPDATE],
    ["identical file", m(), l(), RecvState.SKIP],
    ["mtime differs", m({ mtime: 101 }), l(), RecvState.UPDATE],
    ["size differs", m({ size: 11 }), l(), RecvState.UPDATE],
    ["mode differs", m({ mode: 0o100600 }), l(), RecvState.UPDATE],
    ["file where a dir was", m(), l({ kind: "directory", mode: 0o40755 }), RecvState.UPDATE],
    ["same dir", m({ mode: 0o40755, size: 4096 }), l({ kind: "directory", mode: 0o40755, size: 8192 }), RecvState.SKIP],
    ["same link target", m({ mode: 0o120777, linkTarget: "a" }), l({ kind: "symlink", mode: 0o120777, linkTarget: "a", mtime: 5 }), RecvState.SKIP],
    ["other link target", m({ mode: 0o120777, linkTarget: "a" }), l({ kind: "symlink", mode: 0o120777, linkTarget: "b" }), RecvState.UPDATE]
  ])("%s", (_, sent, local, want) => {
    expect(decide(sent, local, false)).toBe(want)
  })

  it("ownership counts only for a root daemon, on the 16 bits makuosan sends", () => {
    expect(decide(m({ uid: 4464 }), l({ uid: 70000 }), true)).toBe(RecvState.SKIP)
    expect(decide(m({ uid: 1 }), l(), true)).toBe(RecvState.UPDATE)
    expect(decide(m({ uid: 1 }), l(), false)).toBe(RecvState.SKIP)
  })
})
