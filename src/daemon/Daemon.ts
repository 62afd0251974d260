/**
 * The daemon as one layer: UDP transport → wire → members → router, and the control socket on top. Released
 * in reverse: the control socket closes, EXIT is announced, then the sockets close.
 */
import { Clock, Effect, Layer } from "effect"
import * as ControlServer from "../control/Server.js"
import * as Members from "../members/Members.js"
import * as UdpTransport from "../net/UdpTransport.js"
import * as Wire from "../net/Wire.js"
import { WIRE_VERSION } from "../version.js"
import { makeHandler } from "./controlHandler.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import * as Node from "./Node.js"
import * as Receiver from "../transfer/Receiver.js"
import * as Sender from "../transfer/Sender.js"

const controlLayer = (config: DaemonConfig) =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      const handler = makeHandler(
        config,
        {
          members: yield* Members.Members,
          wire: yield* Wire.Wire,
          sender: yield* Sender.Sender,
          receiver: yield* Receiver.Receiver
        },
        startedAt
      )
      yield* ControlServer.serve(config.control, handler)
    })
  )

const announceLayer = (config: DaemonConfig) =>
  Layer.scopedDiscard(
    Effect.acquireRelease(
      Effect.logInfo(
        `makuo daemon ${config.name}: base ${config.base}, group ${config.group}:${config.port} on interface ` +
          `${config.interface ?? "(kernel default)"}, bound to ${config.bind}`
      ),
      () => Effect.logInfo("stopped")
    )
  )

export const layer = (config: DaemonConfig) =>
  controlLayer(config).pipe(
    Layer.provideMerge(
      Node.layer({
        base: config.base,
        members: { ...Members.defaults(config.name, WIRE_VERSION), memberTimeout: config.memberTimeout },
        receiver: { ...Receiver.receiverDefaults, readonly: config.readonly }
      })
    ),
    Layer.provide(
      UdpTransport.layer({
        bind: config.bind,
        port: config.port,
        group: config.group,
        interface: config.interface,
        ttl: config.ttl,
        recvBufferSize: config.recvBufferSize,
        sendBufferSize: config.sendBufferSize,
        queueCapacity: 65_536
      })
    ),
    Layer.provide(announceLayer(config))
  )
