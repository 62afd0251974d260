/**
 * What every sending role shares whatever the wire format: the members it sends to and the round-trip estimate
 * that times its retransmissions. v7's request rounds (`rounds.ts`) and a native transaction's sender
 * (`src/transfer/txn/`) both take their waits from one daemon-wide estimate (`Sessions.rtt`).
 */

export interface Target {
  readonly host: string
  readonly address: string
  readonly port: number
}

/**
 * The round-trip time of request → ACK, smoothed as TCP does (RFC 6298): the first retransmission of a round
 * waits `srtt + 4·rttvar` (at least `MIN_RTO_MS`) instead of a fixed 500 ms, and each further one twice as long,
 * up to `maxWait`. On a LAN that turns a lost datagram into a few milliseconds' delay rather than half a
 * second, which is what small files under loss are made of. An answer is timed from the request's first
 * transmission even when it answers a retransmission: never shorter than the truth, so a busy member or a
 * busy sender lengthens the wait instead of drawing more retransmissions.
 */
export interface RttEstimator {
  readonly rto: (max: number) => number
  readonly sample: (ms: number) => void
}

export const MIN_RTO_MS = 20

export const makeRttEstimator = (): RttEstimator => {
  let srtt: number | undefined
  let rttvar = 0
  return {
    rto: (max) => (srtt === undefined ? max : Math.min(max, Math.max(MIN_RTO_MS, Math.ceil(srtt + 4 * rttvar)))),
    sample: (ms) => {
      if (srtt === undefined) (srtt = ms), (rttvar = ms / 2)
      else (rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - ms)), (srtt = 0.875 * srtt + 0.125 * ms)
    }
  }
}

/** makuosan's fixed wait before a request is sent again: the longest wait of a round. */
export const MAX_WAIT_MS = 500
