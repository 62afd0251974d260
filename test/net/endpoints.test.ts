import { describe, expect, it } from "@effect/vitest"
import { dottedQuad, endpointCache } from "../../src/net/endpoints.js"

describe("endpoints by numeric address and port", () => {
  it("spells an address as a dotted quad, the high octet first", () => {
    expect(dottedQuad(0xe000006c)).toBe("224.0.0.108")
    expect(dottedQuad(0x7f000001)).toBe("127.0.0.1")
    expect(dottedQuad(0xffffffff)).toBe("255.255.255.255")
  })

  it("gives one object per endpoint, the same again after others, each with its own address and port", () => {
    const of = endpointCache(16)
    const a = of(0x7f000002, 5000)
    expect(a).toEqual({ address: "127.0.0.2", port: 5000 })
    expect(of(0x7f000002, 5000)).toBe(a)
    const b = of(0x7f000002, 5001)
    const c = of(0x7f000003, 5000)
    expect([b, c]).toEqual([{ address: "127.0.0.2", port: 5001 }, { address: "127.0.0.3", port: 5000 }])
    expect(of(0x7f000002, 5000)).toBe(a)
    expect(of(0x7f000003, 5000)).toBe(c)
  })

  it("keeps at most its limit: past it, what it held is forgotten (a spoofing flood does not grow it)", () => {
    const of = endpointCache(4)
    const first = of(1, 1)
    for (let i = 2; i <= 4; i++) of(i, 1)
    expect(of(1, 1)).toBe(first)
    of(5, 1)
    of(6, 1)
    const again = of(1, 1)
    expect(again).not.toBe(first)
    expect(again).toEqual(first)
  })
})
