/**
 * The sending side of `send --delete` (makuosan's DSYNC, spec §5.4): members are told the path and our exclude
 * patterns, then each scans its own tree and asks us, in DEL batches, which of its paths we lack; it deletes
 * those and reports back (handled by `DelReceiver`, which routes the reports here by our DSYNC request id).
 * Unlike makuosan, every exclude batch and the terminator are acknowledged and re-sent until every member has
 * them (E13): a lost datagram can never make a member scan without the excludes.
 */
import { Effect } from "effect"
import type { WireShape } from "../net/Wire.js"
import { Flag, MAX_PAYLOAD, Opcode, RecvState, SendState } from "../protocol/constants.js"
import type { ReqId } from "../protocol/message.js"
import { utf8Length } from "../protocol/text.js"
import { type AckRouter, withExchange, type RoundSettings, type Target } from "./exchange.js"

export interface DeleteReport {
  readonly host: string
  readonly address: string
  readonly path: string
  /** 0 = deleted (or, in a dry run, would be). */
  readonly errno: number
}

export interface DsyncRegistry {
  readonly register: (reqid: ReqId, report: (r: DeleteReport) => void) => Effect.Effect<void>
  readonly unregister: (reqid: ReqId) => Effect.Effect<void>
}

/** Exclude patterns cut into payload-sized batches (u16 length + bytes each). */
export const patternBatches = (patterns: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  const batches: Array<Array<string>> = [[]]
  let size = 0
  for (const p of patterns) {
    const n = 2 + utf8Length(p)
    if (size + n > MAX_PAYLOAD || batches.at(-1)!.length >= 16) batches.push([]), (size = 0)
    batches.at(-1)!.push(p)
    size += n
  }
  return batches[0]!.length === 0 ? [] : batches
}

export const dsync = (
  wire: WireShape,
  router: AckRouter,
  registry: DsyncRegistry,
  settings: RoundSettings,
  t: {
    readonly path: string
    readonly recursive: boolean
    readonly dryRun: boolean
    readonly excludes: ReadonlyArray<string>
    readonly targets: ReadonlyArray<Target>
    readonly unicast: boolean
  },
  report: (r: DeleteReport) => void
) =>
  Effect.scoped(Effect.gen(function*() {
    let expectSeqno = 0
    let poke = () => {}
    return yield* withExchange(wire, router, settings, {
      opcode: Opcode.DSYNC,
      flags: (t.dryRun ? Flag.DRYRUN : 0) | (t.recursive ? Flag.RECURS : 0),
      targets: t.targets,
      unicast: t.unicast,
      onAck: (peer, { message: { header } }, phase) => {
        // poke only on news: every idle member answers each CLOSE poll, which must not spin the poll loop
        if (header.nstate === RecvState.CLOSE && peer.result !== RecvState.CLOSE) (peer.result = RecvState.CLOSE), poke()
        if (phase === SendState.DATA) return header.nstate === RecvState.OPEN && header.seqno === expectSeqno
        if (phase === SendState.CLOSE) return header.nstate === RecvState.OPEN || header.nstate === RecvState.CLOSE
        return header.nstate === RecvState.OPEN
      }
    }, (x) =>
      Effect.gen(function*() {
        poke = x.poke
        yield* Effect.acquireRelease(registry.register(x.reqid, report), () => registry.unregister(x.reqid))
        const everyone = () => true
        yield* x.round(SendState.OPEN, everyone, { _tag: "DsyncPath", path: t.path === "." ? "." : `./${t.path}` })
        let sent = 0
        for (const batch of patternBatches(t.excludes)) {
          sent += batch.length
          expectSeqno = sent
          yield* x.round(SendState.DATA, everyone, { _tag: "ExcludePatterns", patterns: batch }, sent)
        }
        expectSeqno = sent + 1
        yield* x.round(SendState.DATA, everyone, { _tag: "ExcludePatterns", patterns: [] }, sent + 1)
        // members answer CLOSE when their deletions are done, OPEN while they still work: poll the busy ones
        const busy = x.inState(RecvState.OPEN)
        yield* x.round(SendState.CLOSE, everyone, { _tag: "Opaque", bytes: new Uint8Array(0) })
        while ([...x.peers.values()].some((p) => !p.lost && busy(p) && p.result !== RecvState.CLOSE)) {
          yield* x.pause(settings.retransmit)
          yield* x.round(SendState.CLOSE, (p) => busy(p) && p.result !== RecvState.CLOSE, { _tag: "Opaque", bytes: new Uint8Array(0) })
        }
        return [...x.peers.values()].filter((p) => p.lost).map((p) => p.target)
      })
    )
  }))
