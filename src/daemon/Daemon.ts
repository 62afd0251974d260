/**
 * The daemon as one layer: UDP transport → wire → members → router, and the control socket on top. Released
 * in reverse: the control socket closes, EXIT is announced, then the sockets close.
 */
import { Clock, Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as ControlServer from "../control/Server.js"
import { refuseInUse } from "../control/listenUnix.js"
import * as Members from "../members/Members.js"
import * as UdpTransport from "../net/UdpTransport.js"
import * as SecureTransport from "../secure/SecureTransport.js"
import * as Wire from "../net/Wire.js"
import { WIRE_VERSION } from "../version.js"
import type { SendJob } from "../domain/job.js"
import * as Console from "../console/Console.js"
import { collectStatus, makeHandler, type Services } from "./controlHandler.js"
import type { DaemonConfig } from "./DaemonConfig.js"
import * as Node from "./Node.js"
import { dropPrivileges } from "./dropPrivileges.js"
import { working } from "./settle.js"
import * as StaleTempSweep from "./staleTempSweep.js"
import * as FileReceiver from "../transfer/send/FileReceiver.js"
import * as Jobs from "../transfer/Jobs.js"
import * as TxnMembers from "../transfer/txn/TxnMembers.js"

const daemonServices: Effect.Effect<
  Services,
  never,
  Members.Members | Wire.Wire | Jobs.Jobs | FileReceiver.FileReceiver | SecureTransport.Secure | TxnMembers.TxnMembers
> = Effect.all({
  members: Members.Members,
  wire: Wire.Wire,
  // a send asked of the daemon (control socket or console) is its work, from its start to its end: V8's compilers
  // back, and the daemon not idle meanwhile, when it gives memory back (`working`)
  jobs: Effect.map(Jobs.Jobs, (jobs) => ({
    ...jobs,
    run: (job: SendJob) =>
      Stream.suspend(() => {
        const end = working()
        return Stream.ensuring(jobs.run(job), Effect.sync(end))
      })
  })),
  receiver: FileReceiver.FileReceiver,
  secure: SecureTransport.Secure,
  txn: TxnMembers.TxnMembers
})

const socketAccess = (config: DaemonConfig) => ({ owner: config.runAs?.uid, group: config.controlGroup })

const controlLayer = (config: DaemonConfig) =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const startedAt = yield* Clock.currentTimeMillis
      const handler = makeHandler(config, yield* daemonServices, startedAt)
      yield* ControlServer.serve(config.control, handler, socketAccess(config))
    })
  )

/** The msync console, on the same services as the control socket. */
const consoleLayer = (config: DaemonConfig) =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      if (config.console === undefined) return
      const startedAt = yield* Clock.currentTimeMillis
      const services = yield* daemonServices
      yield* Console.serve(config.console, {
        members: services.members.list,
        status: collectStatus(config, services, startedAt),
        run: services.jobs.run,
        recvBufferSize: config.recvBufferSize ?? 0,
        sendBufferSize: config.sendBufferSize ?? 0
      }, { owner: config.runAs?.uid })
    })
  )

/**
 * The journal directory, made (0700) while the daemon may still be root, and handed to `--user`: the switches it
 * journals run after the privileges are dropped. Only in native mode, the only one with transactions.
 */
const journalDirectory = (config: DaemonConfig) =>
  config.keyFile === undefined ? Effect.void : Effect.try({
    try: () => {
      fs.mkdirSync(config.journalDir, { recursive: true, mode: 0o700 })
      if (config.runAs !== undefined) fs.chownSync(config.journalDir, config.runAs.uid, config.runAs.gid)
    },
    catch: (e) => e
  }).pipe(Effect.catchAll((e) => Effect.logWarning(`--journal-dir ${config.journalDir}: ${(e as Error).message}; native transactions will fail to switch`)))

const announceLayer = (config: DaemonConfig) =>
  Layer.scopedDiscard(
    Effect.acquireRelease(
      Effect.logInfo(
        `makuo daemon ${config.name}: base ${config.base}, group ${config.group}:${config.port} on interface ` +
          `${config.interface ?? "(kernel default)"}, bound to ${config.bind}` +
          (config.readonly ? "; read-only: every transfer to this daemon is answered READONLY, nothing here changes" : "")
      ),
      () => Effect.logInfo("stopped")
    )
  )

/** The control socket and the console, then — once every socket is open — the switch to `--user`, if asked for. */
const socketsLayer = (config: DaemonConfig) =>
  Layer.effectDiscard(config.runAs === undefined ? Effect.void : dropPrivileges(config.runAs, config.readonly ? undefined : config.base)).pipe(
    Layer.provide(Layer.merge(controlLayer(config), consoleLayer(config)))
  )

export const layer = (config: DaemonConfig) =>
  Layer.merge(socketsLayer(config), StaleTempSweep.layer(TxnMembers.rollForward(config.journalDir))).pipe(
    Layer.provideMerge(
      Node.layer({
        base: config.base,
        journalDir: config.journalDir,
        members: { ...Members.defaults(config.name, WIRE_VERSION), memberTimeout: config.memberTimeout },
        mtu: config.mtu,
        receiver: {
          ...FileReceiver.receiverDefaults,
          readonly: config.readonly,
          idleTimeout: config.sessionTimeout,
          keepSetId: config.keepSetId,
          maxSessions: config.maxSessions,
          maxSessionsPerPeer: config.maxSessionsPerPeer,
          maxTempFiles: config.maxTempFiles
        }
      })
    ),
    Layer.provideMerge(
      SecureTransport.layer(config.keyFile).pipe(Layer.provide(UdpTransport.layer({
        bind: config.bind,
        port: config.port,
        group: config.group,
        interface: config.interface,
        ttl: config.ttl,
        recvBufferSize: config.recvBufferSize,
        sendBufferSize: config.sendBufferSize,
        queueCapacity: 16_384
      })))
    ),
    Layer.provide(announceLayer(config)),
    // before the UDP socket: a second daemon on a busy control socket never joins the group
    Layer.provide(Layer.effectDiscard(refuseInUse(config.control, "control socket"))),
    Layer.provide(Layer.effectDiscard(journalDirectory(config)))
  )
