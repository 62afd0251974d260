/**
 * What both live transports are configured with, and the socket layout they share. With `--bind 0.0.0.0`
 * (production, one daemon per host) one socket does it all, like makuosan: bound to the port, joined to the
 * group, multicast loopback off. With a specific `--bind` address (several daemons on one host, e.g.
 * 127.0.0.2–4) unicast and multicast need two sockets: a socket bound to a unicast address never sees group
 * traffic, so a second one is bound to the group address (shared with SO_REUSEADDR) with loopback on, and our
 * own echoes are dropped by source.
 */
import type { Endpoint } from "./Transport.js"

export interface UdpOptions {
  readonly bind: string
  readonly port: number
  readonly group: string
  /** Interface address for membership and outgoing multicast; undefined = the kernel's choice. */
  readonly interface: string | undefined
  readonly ttl: number
  readonly recvBufferSize: number | undefined
  readonly sendBufferSize: number | undefined
  /** Datagrams buffered between the socket and the consumer before new ones are dropped (and counted). */
  readonly queueCapacity: number
}

export const ANY = "0.0.0.0"

export interface SocketLayout {
  /** Two sockets (unicast + group) instead of one. */
  readonly shared: boolean
  /** Our own unicast endpoint: the source of everything we send and the address peers answer to. */
  readonly local: Endpoint
}

export const socketLayout = (options: UdpOptions): SocketLayout => {
  const shared = options.bind !== ANY
  return { shared, local: { address: shared ? options.bind : (options.interface ?? ANY), port: options.port } }
}

export const membershipDetail = (options: UdpOptions, cause: unknown) =>
  `group ${options.group} on interface ${options.interface ?? "(kernel default)"}: ${cause instanceof Error ? cause.message : String(cause)}`
