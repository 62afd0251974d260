import { describe, expect, it } from "@effect/vitest"
import { whereabouts } from "../../src/secure/SecureTransport.js"

const group = { address: "224.0.0.108", port: 5000 }

describe("the destinations a daemon owns", () => {
  it("bound to one address: that address with our port, nothing else", () => {
    const w = whereabouts({ address: "127.0.0.2", port: 5000 }, group)
    expect(w.group).toEqual(group)
    expect(w.isLocal({ address: "127.0.0.2", port: 5000 })).toBe(true)
    expect(w.isLocal({ address: "127.0.0.2", port: 5001 })).toBe(false)
    expect(w.isLocal({ address: "127.0.0.3", port: 5000 })).toBe(false)
  })

  it("bound to 0.0.0.0: any of this host's interface addresses with our port, the list reread when one is missing", () => {
    let addresses = new Set(["127.0.0.1", "10.0.0.5"])
    let reads = 0
    let now = 0
    const w = whereabouts({ address: "0.0.0.0", port: 5000 }, group, () => (reads++, addresses), () => now)
    expect(w.isLocal({ address: "10.0.0.5", port: 5000 })).toBe(true)
    expect(w.isLocal({ address: "127.0.0.1", port: 5000 })).toBe(true)
    expect(w.isLocal({ address: "10.0.0.5", port: 5001 })).toBe(false)
    expect(w.isLocal({ address: "0.0.0.0", port: 5000 })).toBe(false)
    expect(w.isLocal({ address: "10.0.0.9", port: 5000 })).toBe(false)
    expect(reads).toBe(1)
    addresses = new Set(["127.0.0.1", "10.0.0.9"])
    expect(w.isLocal({ address: "10.0.0.9", port: 5000 })).toBe(false)
    now = 1000
    expect(w.isLocal({ address: "10.0.0.9", port: 5000 })).toBe(true)
    expect(reads).toBe(2)
  })
})
