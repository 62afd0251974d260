/**
 * The sending side of `check` for one regular file (spec §5.3): the local MD5 goes out in MD5 OPEN; members
 * answer OPEN while they hash and MD5OK/MD5NG (or an error) when done; members still hashing are polled every
 * 500 ms; then a CLOSE round releases them. makuosan never reports READERROR; makuo does.
 */
import { Effect } from "effect"
import type { WireShape } from "../net/Wire.js"
import { Opcode, RecvState, SendState } from "../protocol/constants.js"
import type { Payload } from "../protocol/message.js"
import { describeErrno } from "../protocol/errno.js"
import { type AckRouter, withExchange, type Peer, type RoundSettings, type Target } from "./exchange.js"
import type { HostOutcome } from "../domain/outcome.js"
import type { Progress } from "./progress.js"

const final = (state: number) =>
  state === RecvState.MD5OK || state === RecvState.MD5NG || state === RecvState.OPENERROR || state === RecvState.READERROR

export const checkFile = (
  wire: WireShape,
  router: AckRouter,
  settings: RoundSettings,
  t: { readonly path: string; readonly digest: Uint8Array; readonly targets: ReadonlyArray<Target>; readonly unicast: boolean },
  progress: Progress
): Effect.Effect<ReadonlyArray<HostOutcome>> =>
  Effect.gen(function*() {
    let poke = () => {}
    return yield* withExchange(wire, router, settings, {
      opcode: Opcode.MD5,
      flags: 0,
      targets: t.targets,
      unicast: t.unicast,
      onAck: (peer, { message: { header } }, phase) => {
        const state = header.nstate
        // poke only on news: a member repeating its result to every poll would otherwise spin the poll loop
        if (final(state) && !final(peer.result)) {
          peer.result = state as typeof peer.result
          peer.error = header.error
          poke()
        }
        return phase === SendState.CLOSE ? state === RecvState.CLOSE : state !== RecvState.CLOSE
      }
    }, (x) =>
      Effect.gen(function*() {
        poke = x.poke
        progress.peers = x.peers
        const mhash: Payload = { _tag: "Mhash", digest: t.digest, path: t.path }
        const hashing = (p: Peer) => !p.lost && !final(p.result)
        yield* x.round(SendState.OPEN, () => true, mhash)
        while ([...x.peers.values()].some(hashing)) {
          yield* x.pause(settings.retransmit)
          yield* x.round(SendState.OPEN, hashing, mhash)
        }
        yield* x.round(SendState.CLOSE, (p) => !p.lost, mhash)
        return [...x.peers.values()].map((p): HostOutcome => {
          const base = { host: p.target.host, address: p.target.address }
          if (p.lost) return { ...base, outcome: "lost", detail: "no answer; dropped from this check" }
          switch (p.result) {
            case RecvState.MD5OK:
              return { ...base, outcome: "same" }
            case RecvState.MD5NG:
              return { ...base, outcome: "different" }
            case RecvState.OPENERROR:
              return p.error === 2
                ? { ...base, outcome: "missing" }
                : { ...base, outcome: "failed", detail: `unreadable: ${describeErrno(p.error)}`, errno: p.error }
            case RecvState.READERROR:
              return { ...base, outcome: "failed", detail: `read error: ${describeErrno(p.error)}`, errno: p.error }
            default:
              return { ...base, outcome: "failed", detail: `unexpected answer (state ${p.result})` }
          }
        })
      })
    )
  })
