/**
 * The live `Transport`: the native batched-I/O addon where it is built and loads, else `node:dgram`, said once in
 * the log (and in `makuo status` as `io`). `MAKUO_IO=dgram` forces the fallback, `MAKUO_IO=sendmmsg` the addon
 * without GSO.
 */
import { Effect, Layer } from "effect"
import * as DgramTransport from "./DgramTransport.js"
import { loadNative, nativeSends } from "./native.js"
import * as NativeTransport from "./NativeTransport.js"
import type { UdpOptions } from "./UdpOptions.js"

export const layer = (options: UdpOptions) =>
  Layer.unwrapEffect(Effect.sync(() => {
    const native = loadNative()
    return typeof native === "string"
      ? Layer.effectDiscard(Effect.logInfo(`datagram I/O: node:dgram, one system call per datagram (${native})`)).pipe(
        Layer.provideMerge(DgramTransport.layer(options))
      )
      : NativeTransport.layer(native, options, nativeSends())
  }))
