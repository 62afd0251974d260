/**
 * The one table of received sessions, with time passed in: every kind shares the global cap and a peer's share,
 * descriptors come from one budget, and a half-open session goes after a few seconds of silence while one with
 * data flowing keeps the long timeout.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Endpoint } from "../../src/net/Transport.js"
import { type KindPolicy, type Slot, SessionTable } from "../../src/transfer/sessionTable.js"

interface Fake extends Slot {
  flowing: boolean
  busy: boolean
  released: number
}

const policy: KindPolicy<Fake> = { flowing: (s) => s.flowing, busy: (s) => s.busy, release: (s) => void s.released++ }
const make = (slot: Slot): Fake => ({ ...slot, flowing: false, busy: false, released: 0 })
const from = (address: string, port = 5000): Endpoint => ({ address, port })

const limits = { maxSessions: 10, maxSessionsPerPeer: 4, maxDescriptors: 6, idleTimeoutMs: 180_000, halfOpenTimeoutMs: 5_000 }

describe("the table of received sessions", () => {
  it("every kind counts against the global cap and the peer's share; a refusal says which", () => {
    const t = new SessionTable(limits)
    const kinds = ["send", "check", "dsync", "del"] as const
    // one peer, four kinds from several source ports: its share is 4 whatever they are
    for (let i = 0; i < 4; i++) expect(t.admit(kinds[i]!, policy, from("10.0.0.9", 5000 + i), i, 0, make)).toMatchObject({ kind: kinds[i] })
    expect(t.admit("check", policy, from("10.0.0.9", 6000), 99, 0, make)).toBe("peer")
    expect(t.admit("dsync", policy, from("10.0.0.9"), 100, 0, make)).toBe("peer")
    for (let i = 0; i < 6; i++) expect(typeof t.admit("del", policy, from(`10.0.1.${i}`), 1, 0, make)).toBe("object")
    expect(t.size).toBe(10)
    expect(t.admit("send", policy, from("10.0.2.1"), 1, 0, make)).toBe("full")
    // the same request id under another kind is another session
    expect(t.get("send", from("10.0.0.9", 5000), 0)).toBeDefined()
    expect(t.get("check", from("10.0.0.9", 5000), 0)).toBeUndefined()
    // a session gone gives its peer's slot back
    t.remove(t.get<Fake>("send", from("10.0.0.9", 5000), 0)!.key)
    expect(t.held("10.0.0.9")).toBe(3)
    expect(typeof t.admit("check", policy, from("10.0.0.9", 6000), 99, 0, make)).toBe("object")
  })

  it("descriptors of every session come from one budget, given back when dropped or when the session goes", () => {
    const t = new SessionTable(limits)
    const a = t.admit("send", policy, from("10.0.0.1"), 1, 0, make) as Fake
    const b = t.admit("check", policy, from("10.0.0.2"), 1, 0, make) as Fake
    expect(t.hold(a, 2)).toBe(true) // a temp file and its directory
    expect(t.hold(b, 1)).toBe(true) // a file being hashed
    expect(t.hold(a, 1)).toBe(true)
    expect(t.hold(b, 3)).toBe(false) // 7 > 6: nothing taken
    expect(t.descriptors).toBe(4)
    expect(t.hold(b, 2)).toBe(true)
    t.drop(b, 1)
    expect(t.descriptors).toBe(5)
    t.remove(a.key)
    expect(t.descriptors).toBe(2)
    // dropping what a removed session held changes nothing (it was given back with it)
    t.drop(a, 3)
    expect(t.descriptors).toBe(2)
    expect(t.hold(a, 1)).toBe(false)
  })

  it("a half-open session goes after the short timeout, one with data flowing after the long one, a busy one never", () => {
    const t = new SessionTable(limits)
    const half = t.admit("send", policy, from("10.0.0.1"), 1, 0, make) as Fake
    const flowing = t.admit("send", policy, from("10.0.0.1"), 2, 0, make) as Fake
    const busy = t.admit("dsync", policy, from("10.0.0.1"), 3, 0, make) as Fake
    const talking = t.admit("check", policy, from("10.0.0.1"), 4, 0, make) as Fake
    flowing.flowing = true
    busy.busy = true
    expect(t.hold(half, 2)).toBe(true)
    // the sender of `talking` retransmits every 500 ms
    for (let now = 500; now <= 4_500; now += 500) talking.lastSeen = now
    expect(t.collect(4_999)).toEqual([])
    expect(t.collect(5_000)).toEqual([half])
    expect(half.released).toBe(1)
    expect(t.descriptors).toBe(0)
    expect(t.held("10.0.0.1")).toBe(3)
    expect(t.collect(9_499)).toEqual([])
    expect(t.collect(9_500)).toEqual([talking])
    expect(t.collect(179_999)).toEqual([])
    expect(t.collect(180_000)).toEqual([flowing])
    expect(t.collect(10_000_000)).toEqual([])
    busy.busy = false
    expect(t.collect(10_000_000)).toEqual([busy])
    expect(t.size).toBe(0)
  })

  it("a flood of half-open sessions from one host holds its share for seconds, then the slots are free again", () => {
    const t = new SessionTable({ ...limits, maxSessions: 4096, maxSessionsPerPeer: 512 })
    // eight source addresses of one host: 4096 sessions, then nothing more for anyone
    for (let a = 0; a < 8; a++) for (let i = 0; i < 512; i++) expect(typeof t.admit("send", policy, from(`127.0.0.${10 + a}`), i, 0, make)).toBe("object")
    expect(t.admit("send", policy, from("127.0.0.2"), 1, 1000, make)).toBe("full")
    expect(t.collect(5_000)).toHaveLength(4096)
    expect(typeof t.admit("send", policy, from("127.0.0.2"), 1, 5_000, make)).toBe("object")
  })

  it("a session found once is found again by the same request only, and never once removed, collected or cleared", () => {
    const t = new SessionTable(limits)
    const a = t.admit("txn", policy, from("10.0.0.1"), 7, 0, make) as Fake
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(a)
    // what the last lookup found is no answer to another kind, port, address or id
    expect(t.get("send", from("10.0.0.1"), 7)).toBeUndefined()
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(a)
    expect(t.get("txn", from("10.0.0.1", 5001), 7)).toBeUndefined()
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(a)
    expect(t.get("txn", from("10.0.0.2"), 7)).toBeUndefined()
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(a)
    expect(t.get("txn", from("10.0.0.1"), 8)).toBeUndefined()
    t.remove(a.key)
    expect(t.get("txn", from("10.0.0.1"), 7)).toBeUndefined()
    // the same request admitted again is the new session, not the removed one
    const b = t.admit("txn", policy, from("10.0.0.1"), 7, 0, make) as Fake
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(b)
    expect(t.collect(limits.halfOpenTimeoutMs)).toEqual([b])
    expect(t.get("txn", from("10.0.0.1"), 7)).toBeUndefined()
    const c = t.admit("txn", policy, from("10.0.0.1"), 7, 0, make) as Fake
    expect(t.get("txn", from("10.0.0.1"), 7)).toBe(c)
    t.clear()
    expect(t.get("txn", from("10.0.0.1"), 7)).toBeUndefined()
  })
})
