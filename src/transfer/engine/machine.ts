/**
 * The one contract of every state machine of the engine, sending or receiving (quinn-proto's `Connection` is the
 * model): `step` takes the session's state, one event and the time, and pushes the actions it decides into `out`
 * for a driver to carry out, in order. The state is mutated in place and holds whatever the session needs
 * besides (its round timing, the pacer): a driver passes nothing else. A machine that never looks at the time
 * (the receiving ones: their senders keep the clocks) simply does not declare `now`.
 */
export type Machine<S, E, A> = (state: S, event: E, out: Array<A>, now: number) => void
