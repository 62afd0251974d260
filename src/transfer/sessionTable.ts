/**
 * The one table of every session this daemon receives (SEND, MD5, DSYNC, DEL, native tree transactions), without
 * I/O: time is passed in. Anyone who reaches the group can open sessions here (protocol v7 authenticates nobody), so everything a
 * session may take is bounded in one place:
 * - slots: `maxSessions` in all, `maxSessionsPerPeer` for one source address, whatever the kind;
 * - descriptors: temp files, parent directories held from a STAT to its OPEN and files being hashed all draw on
 *   one budget, so a flood of cheap requests never runs the process out of descriptors;
 * - time: a session with data flowing is collected after `idleTimeout` of silence; a half-open one (STAT
 *   without OPEN, OPEN without DATA, an MD5 or DSYNC or DEL session between its requests) after
 *   `halfOpenTimeout`, since its sender retransmits every 500 ms while it waits: a few seconds of silence mean
 *   the sender is gone (or never existed: a forged STAT).
 */
import type { Endpoint } from "../net/Transport.js"

export type Kind = "send" | "check" | "dsync" | "del" | "txn"

export interface TableLimits {
  readonly maxSessions: number
  readonly maxSessionsPerPeer: number
  readonly maxDescriptors: number
  readonly idleTimeoutMs: number
  readonly halfOpenTimeoutMs: number
}

/** What each kind tells the table about its sessions. */
export interface KindPolicy<S extends Slot> {
  /** Data is flowing (the long timeout applies). */
  readonly flowing: (session: S) => boolean
  /** Work of ours is still running for it (a DSYNC walk): never collected while so. */
  readonly busy: (session: S) => boolean
  /** Drops what a session out of the table holds, collected or ended (its descriptors are back in the budget). */
  readonly release: (session: S) => void
}

/** What the table keeps of every session; each kind's session record extends it. */
export interface Slot {
  readonly kind: Kind
  readonly key: string
  readonly from: Endpoint
  lastSeen: number
  /** Descriptors the session holds now. */
  descriptors: number
}

export type Refusal = "full" | "peer" | "descriptors"

interface Held {
  readonly slot: Slot
  readonly policy: KindPolicy<Slot>
}

/** A session belongs to its source, request id and kind (a forged MD5 must not land in a SEND session). */
const keyOf = (kind: Kind, from: Endpoint, reqid: number) => `${kind}:${from.address}:${from.port}:${reqid}`

export class SessionTable {
  readonly #slots = new Map<string, Held>()
  readonly #perPeer = new Map<string, number>()
  #descriptors = 0
  /**
   * The session `get` found last, with what it was asked by: a transfer's datagrams come one session at a time, so
   * most lookups are this one and build no key. Forgotten by `remove`, the one way out of the table.
   */
  #last: { readonly held: Held; readonly kind: Kind; readonly address: string; readonly port: number; readonly reqid: number } | undefined

  constructor(readonly limits: TableLimits) {}

  get size(): number {
    return this.#slots.size
  }

  get descriptors(): number {
    return this.#descriptors
  }

  held(address: string): number {
    return this.#perPeer.get(address) ?? 0
  }

  get<S extends Slot>(kind: Kind, from: Endpoint, reqid: number): S | undefined {
    const last = this.#last
    if (last !== undefined && last.reqid === reqid && last.port === from.port && last.kind === kind && last.address === from.address) {
      return last.held.slot as S
    }
    const held = this.#slots.get(keyOf(kind, from, reqid))
    if (held === undefined) return undefined
    this.#last = { held, kind, address: from.address, port: from.port, reqid }
    return held.slot as S
  }

  /** Whether `slot` is still in the table (not removed or collected). */
  has(slot: Slot): boolean {
    return this.#slots.get(slot.key)?.slot === slot
  }

  /**
   * A new session built by `make` on its slot, or why there is no room for it (the global cap first, then the
   * peer's share). Only for a key not in the table.
   */
  admit<S extends Slot>(kind: Kind, policy: KindPolicy<S>, from: Endpoint, reqid: number, now: number, make: (slot: Slot) => S): S | Refusal {
    const key = keyOf(kind, from, reqid)
    if (this.#slots.size >= this.limits.maxSessions) return "full"
    if (this.held(from.address) >= this.limits.maxSessionsPerPeer) return "peer"
    const slot = make({ kind, key, from, lastSeen: now, descriptors: 0 })
    this.#slots.set(key, { slot, policy: policy as unknown as KindPolicy<Slot> })
    this.#perPeer.set(from.address, this.held(from.address) + 1)
    return slot
  }

  /** Forgets the session (its descriptors go back to the budget); what it holds is the caller's to drop. */
  remove(key: string): void {
    const held = this.#slots.get(key)
    if (held === undefined) return
    const { slot } = held
    this.#slots.delete(key)
    if (this.#last?.held === held) this.#last = undefined
    this.#descriptors -= slot.descriptors
    slot.descriptors = 0
    const n = this.held(slot.from.address) - 1
    if (n > 0) this.#perPeer.set(slot.from.address, n)
    else this.#perPeer.delete(slot.from.address)
  }

  /** Takes `n` descriptors for a session from the budget; false (nothing taken) when they are not there. */
  hold(slot: Slot, n: number): boolean {
    if (!this.has(slot) || this.#descriptors + n > this.limits.maxDescriptors) return false
    slot.descriptors += n
    this.#descriptors += n
    return true
  }

  /** Gives back `n` of a session's descriptors (none once the session is gone: `remove` gave them back). */
  drop(slot: Slot, n: number): void {
    const k = Math.min(n, slot.descriptors)
    slot.descriptors -= k
    this.#descriptors -= k
  }

  /** Removes and releases the sessions silent for longer than their timeout; returns them. */
  collect(now: number): Array<Slot> {
    const gone: Array<Held> = []
    for (const held of this.#slots.values()) {
      const { policy, slot } = held
      if (policy.busy(slot)) continue
      const timeout = policy.flowing(slot) ? this.limits.idleTimeoutMs : this.limits.halfOpenTimeoutMs
      if (now - slot.lastSeen >= timeout) gone.push(held)
    }
    for (const { policy, slot } of gone) {
      this.remove(slot.key)
      policy.release(slot)
    }
    return gone.map((h) => h.slot)
  }

  /** Every session of one kind. */
  *values<S extends Slot>(kind: Kind): Generator<S> {
    for (const { slot } of this.#slots.values()) if (slot.kind === kind) yield slot as S
  }

  /** Removes and releases every session (the daemon stops). */
  clear(): void {
    for (const { policy, slot } of [...this.#slots.values()]) {
      this.remove(slot.key)
      policy.release(slot)
    }
  }
}
