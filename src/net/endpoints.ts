/**
 * Endpoints by numeric IPv4 address and port, as sockets and frame headers carry them: one object per endpoint
 * rather than a dotted-quad string per datagram. The last one asked is answered without a lookup (a burst comes
 * from one source, to one destination), and a key of address and port above 2^31 is a heap number that the map
 * hashes each time.
 */
import type { Endpoint } from "./Transport.js"

export const dottedQuad = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`

/** At most `limit` endpoints kept (all forgotten when it is reached): a spoofing flood must not grow it. */
export const endpointCache = (limit: number): ((address: number, port: number) => Endpoint) => {
  const endpoints = new Map<number, Endpoint>()
  let lastAddress = -1
  let lastPort = -1
  let last: Endpoint | undefined
  return (address, port) => {
    if (address === lastAddress && port === lastPort) return last!
    const key = address * 65_536 + port
    let e = endpoints.get(key)
    if (e === undefined) {
      if (endpoints.size >= limit) endpoints.clear()
      endpoints.set(key, (e = { address: dottedQuad(address), port }))
    }
    lastAddress = address
    lastPort = port
    return (last = e)
  }
}
