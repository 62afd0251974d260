/**
 * The protocol engine of one daemon over any `Transport`: wire, member table, file store, receive sessions,
 * sender and the router that feeds them. The live daemon puts it on UDP; tests put it on the in-memory network.
 */
import { Layer } from "effect"
import * as Members from "../members/Members.js"
import * as Wire from "../net/Wire.js"
import * as FileStore from "../store/FileStore.js"
import * as Acks from "../transfer/Acks.js"
import * as CheckReceiver from "../transfer/check/CheckReceiver.js"
import * as DelReceiver from "../transfer/dsync/DelReceiver.js"
import * as DsyncReceiver from "../transfer/dsync/DsyncReceiver.js"
import * as Sessions from "../transfer/engine/Sessions.js"
import * as FileReceiver from "../transfer/send/FileReceiver.js"
import * as ReceiveSessions from "../transfer/ReceiveSessions.js"
import * as SendEngine from "../transfer/send/SendEngine.js"
import * as Jobs from "../transfer/Jobs.js"
import * as Timers from "../transfer/Timers.js"
import * as TxnMembers from "../transfer/txn/TxnMembers.js"
import * as TxnSend from "../transfer/txn/TxnSend.js"
import * as Router from "./Router.js"

export interface NodeConfig {
  readonly base: string
  readonly members: Members.MembersConfig
  readonly receiver: FileReceiver.ReceiverConfig
  /** Where a tree transaction's switch is journaled (outside the base); a private temp directory when undefined. */
  readonly journalDir?: string | undefined
  /** Native mode's path MTU (`--mtu`); 1500 when absent. */
  readonly mtu?: number | undefined
}

export const layer = (config: NodeConfig) =>
  Router.layer.pipe(
    Layer.provideMerge(Jobs.layer),
    Layer.provideMerge(SendEngine.layer),
    Layer.provideMerge(TxnSend.layer(config.mtu)),
    Layer.provideMerge(FileReceiver.layer(config.receiver)),
    Layer.provideMerge(CheckReceiver.layer),
    Layer.provideMerge(DelReceiver.layer),
    Layer.provideMerge(DsyncReceiver.layer({ readonly: config.receiver.readonly, rounds: Jobs.roundTiming })),
    Layer.provideMerge(Sessions.layer),
    Layer.provideMerge(TxnMembers.layer({ readonly: config.receiver.readonly, keepSetId: config.receiver.keepSetId, journalDir: config.journalDir, mtu: config.mtu })),
    // above the file store: the sessions' temp files are discarded before the store closes its base
    Layer.provideMerge(ReceiveSessions.layer(config.receiver)),
    Layer.provideMerge(Acks.layer),
    Layer.provideMerge(Timers.layer),
    Layer.provideMerge(Members.layer(config.members)),
    Layer.provideMerge(FileStore.layer(config.base)),
    Layer.provideMerge(Wire.layer)
  )
