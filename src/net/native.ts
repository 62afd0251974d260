/**
 * The native batched-I/O addon (`native/makuo_udp.c`, built by node-gyp during `npm ci`), loaded once. Where it
 * was not built (no compiler, not Linux) or `MAKUO_IO=dgram` asks for the fallback, `loadNative` says why and
 * the daemon runs on `node:dgram`. `MAKUO_IO=sendmmsg` keeps the addon but never segments (`ioMode`).
 */
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"

export interface NativeConstants {
  readonly SOL_SOCKET: number
  readonly IPPROTO_IP: number
  readonly SOL_UDP: number
  readonly SO_RCVBUF: number
  readonly SO_SNDBUF: number
  readonly IP_MULTICAST_TTL: number
  readonly IP_MULTICAST_LOOP: number
  readonly UDP_GRO: number
}

/** A socket owned by the addon; every call returns a count or a negative errno. */
export interface NativeSocket {
  readonly __brand: "NativeSocket"
}

export interface NativeUdp {
  readonly open: (
    address: number,
    port: number,
    reuseAddr: number,
    recvBuffer: number,
    sendBuffer: number,
    onEvent: (readable: boolean, writable: boolean) => void
  ) => NativeSocket | number
  readonly setInt: (s: NativeSocket, level: number, name: number, value: number) => number
  readonly getInt: (s: NativeSocket, level: number, name: number) => number
  readonly multicastInterface: (s: NativeSocket, iface: number) => number
  readonly join: (s: NativeSocket, group: number, iface: number) => number
  readonly poll: (s: NativeSocket, readable: boolean, writable: boolean) => number
  /**
   * Readability is not polled for `ms` milliseconds (writability still is); then `onEvent(true, false)` reads what
   * arrived. Absent in an addon built before it: the socket is then read at every readiness.
   */
  readonly hold?: (s: NativeSocket, ms: number) => number
  /** Fills `buffer` slot by slot; `meta` gets 5 numbers a datagram: length, address, port, GRO segment, cut. */
  readonly recv: (s: NativeSocket, buffer: Uint8Array, slotSize: number, meta: Uint32Array) => number
  /**
   * Datagrams of `segment` bytes laid out back to back from `offset` (the last may be shorter; 0: one datagram):
   * the bytes the kernel took (fewer than `length` when the socket buffer is full), or -errno.
   */
  readonly send: (s: NativeSocket, address: number, port: number, buffer: Uint8Array, offset: number, length: number, segment: number) => number
  /**
   * Datagrams laid out back to back from `offset`, `lengths[first]`, `lengths[first + 1]`, ... bytes long, one
   * `sendmmsg` per 64 messages, a message per run of datagrams of one length (ended by a shorter one: GSO) or, without
   * GSO, per datagram: the bytes the kernel took (whole datagrams; fewer than asked when the socket buffer is
   * full: the rest goes from the first datagram not taken), or -errno (EMSGSIZE: a datagram over 65507 bytes).
   */
  readonly sendEach: (s: NativeSocket, address: number, port: number, buffer: Uint8Array, offset: number, lengths: Uint32Array, first: number) => number
  /** Whether sends still use UDP_SEGMENT (a kernel that refuses it once falls back to sendmmsg). */
  readonly gso: (s: NativeSocket) => boolean
  /** Sends one datagram per message (`sendmmsg`) from now on, as after a kernel's refusal of GSO. */
  readonly noGso: (s: NativeSocket) => void
  /**
   * The kernel's count of datagrams this socket dropped (`SO_RXQ_OVFL`; mostly a full receive buffer), as of the
   * last datagram `recv` took: a drop shows with the next arrival. The kernel counts packets: a run it coalesced
   * for UDP_GRO counts once. Wraps at 2^32; -1 when the kernel does not report it. Read from the addon's memory,
   * no system call: cheap after every batch.
   */
  readonly drops: (s: NativeSocket) => number
  readonly close: (s: NativeSocket) => void
  /**
   * Hands the C heap's free pages back to the kernel (`malloc_trim`); 1 when it gave some back. For a daemon that
   * has settled, not for every batch. Absent in an addon built before it (`npm ci` or `npm run install` rebuilds).
   */
  readonly trim?: () => number
  /**
   * Drops from the process's mappings the pages of node's executable that are still the file's (not private
   * copies): the bytes dropped. For a daemon that has settled (src/daemon/settle.ts); absent in an older addon.
   */
  readonly dropCodePages?: () => number
  readonly constants: NativeConstants
}

export const RECV_META = 5

/** What `MAKUO_IO` asks of the native path: GSO bursts (the default) or one datagram per message. */
export const nativeSends = (): "gso" | "sendmmsg" => (process.env["MAKUO_IO"] === "sendmmsg" ? "sendmmsg" : "gso")

const packageRoot = (from: string): string =>
  existsSync(join(from, "package.json")) || dirname(from) === from ? from : packageRoot(dirname(from))

let loaded: NativeUdp | string | undefined

/** The addon, or why the daemon goes without it. */
export const loadNative = (): NativeUdp | string => {
  if (loaded !== undefined) return loaded
  if (process.env["MAKUO_IO"] === "dgram") return (loaded = "MAKUO_IO=dgram")
  const path = join(packageRoot(import.meta.dirname), "build", "Release", "makuo_udp.node")
  if (!existsSync(path)) return (loaded = `${path} was not built`)
  try {
    const module = { exports: {} }
    process.dlopen(module, path)
    // an addon built from older sources lacks what this makuo calls: said, and the daemon goes without it
    loaded = typeof (module.exports as Partial<NativeUdp>).sendEach === "function"
      ? module.exports as NativeUdp
      : `${path} was built from older sources (no sendEach): rebuild it (npm run install)`
  } catch (e) {
    loaded = `${path} does not load: ${e instanceof Error ? e.message : String(e)}`
  }
  return loaded
}
