import { describe, expect, it } from "@effect/vitest"
import type { Endpoint } from "../../src/net/Transport.js"
import { Admission } from "../../src/secure/admission.js"
import { keyId } from "../../src/secure/keys.js"

const T0 = 1_000
const A: Endpoint = { address: "127.0.0.2", port: 5000 }
const C: Endpoint = { address: "127.0.0.4", port: 5000 }
const random = (n: number) => new Uint8Array(n).fill(7)
const epochId = new Uint8Array(16)

describe("admission bookkeeping", () => {
  it("forgets a challenged epoch after its lifetime whatever datagram comes next, with the key kept for it", () => {
    const admission = new Admission(random, { challengeTtlMs: 5000 })
    const opener = {}
    expect(admission.challenge("e1", A, keyId(1), epochId, opener, T0)).toBeDefined()
    expect(admission.opener("e1", T0 + 4999)).toBe(opener)
    // another epoch, from another source, after e1's lifetime: e1 is gone
    expect(admission.challenge("e2", C, keyId(1), epochId, {}, T0 + 5000)).toBeDefined()
    expect(admission.pendingCount).toBe(1)
    expect(admission.opener("e1", T0 + 5000)).toBeUndefined()
  })
})
