/**
 * The runtime's ceiling on makuo's path, for the benchmark: `send` pushes 1066-byte datagrams (makuo's DATA size)
 * to a multicast group as fast as it can; `recv` counts what arrives and prints JSON once the sender has stopped.
 * No protocol, no acknowledgement. `--io dgram` (default): `node:dgram`, one call per datagram, 64 per event-loop
 * turn like makuo's DATA loop used to; `--io native`: makuo's addon, 60-datagram GSO bursts out, recvmmsg/GRO in.
 *   node dgramProbe.js recv GROUP PORT IFACE_ADDR [--io dgram|native]
 *   node dgramProbe.js send GROUP PORT IFACE_ADDR COUNT [--io dgram|native]
 */
import * as dgram from "node:dgram"
import { loadNative, type NativeSocket, RECV_META } from "../src/net/native.js"
import { ipv4ToU32 } from "../src/net/NativeTransport.js"

const args = process.argv.slice(2)
const ioAt = args.indexOf("--io")
const io = ioAt < 0 ? "dgram" : args.splice(ioAt, 2)[1]
const [mode, group = "239.77.0.1", port = "6000", iface = "127.0.0.1", count = "100000"] = args
const SIZE = 1066

const native = () => {
  const n = loadNative()
  if (typeof n === "string") throw new Error(`--io native: ${n}`)
  return n
}

/** Counts datagrams; done when nothing has arrived for a second after the first one (or after 60 s of nothing). */
const counter = (stop: () => void) => {
  const c = { datagrams: 0, bytes: 0, first: 0, last: 0 }
  const timer = setInterval(() => {
    const now = performance.now()
    if ((c.datagrams > 0 && now - c.last > 1000) || now > 60_000) {
      clearInterval(timer)
      stop()
      console.log(JSON.stringify({ datagrams: c.datagrams, bytes: c.bytes, seconds: (c.last - c.first) / 1000 }))
    }
  }, 100)
  return (datagrams: number, bytes: number) => {
    const now = performance.now()
    if (c.datagrams === 0) c.first = now
    c.last = now
    c.datagrams += datagrams
    c.bytes += bytes
  }
}

const finished = (sent: number, started: number) => console.log(JSON.stringify({ sent, seconds: (performance.now() - started) / 1000 }))

if (mode === "recv" && io === "native") {
  const n = native()
  let s: NativeSocket | undefined
  const buffer = new Uint8Array(32 * 65_536)
  const meta = new Uint32Array(64 * RECV_META)
  const count = counter(() => n.close(s!))
  const opened = n.open(0, Number(port), 1, 8 << 20, 0, (readable) => {
    if (!readable) return
    for (let got = n.recv(s!, buffer, 65_536, meta); got > 0; got = n.recv(s!, buffer, 65_536, meta)) {
      for (let i = 0; i < got; i++) {
        const length = meta[i * RECV_META]!
        const segment = meta[i * RECV_META + 3]!
        count(segment === 0 ? 1 : Math.ceil(length / segment), length)
      }
    }
  })
  if (typeof opened === "number") throw new Error(`open: errno ${-opened}`)
  s = opened
  n.setInt(s, n.constants.SOL_UDP, n.constants.UDP_GRO, 1)
  if (n.join(s, ipv4ToU32(group), ipv4ToU32(iface)) < 0) throw new Error("join failed")
  n.poll(s, true, false)
  console.error("ready")
} else if (mode === "recv") {
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true, recvBufferSize: 8 << 20 })
  const count = counter(() => socket.close())
  socket.on("message", (m) => count(1, m.length))
  socket.bind(Number(port), () => {
    socket.addMembership(group, iface)
    console.error("ready")
  })
} else if (mode === "send" && io === "native") {
  const n = native()
  const total = Number(count)
  const burst = new Uint8Array(60 * SIZE).fill(0x5a)
  let s: NativeSocket | undefined
  let sent = 0
  let offset = 0
  const started = performance.now()
  const pump = () => {
    while (sent < total) {
      const datagrams = Math.min(60, total - sent)
      const r = n.send(s!, ipv4ToU32(group), Number(port), burst, offset, datagrams * SIZE - offset, SIZE)
      if (r < 0) throw new Error(`send: errno ${-r}`)
      offset += r
      if (offset < datagrams * SIZE) return void n.poll(s!, false, true)
      sent += datagrams
      offset = 0
    }
    n.close(s!)
    finished(sent, started)
  }
  const opened = n.open(ipv4ToU32(iface), 0, 0, 0, 2 << 20, (_, writable) => writable && pump())
  if (typeof opened === "number") throw new Error(`open: errno ${-opened}`)
  s = opened
  n.multicastInterface(s, ipv4ToU32(iface))
  n.setInt(s, n.constants.IPPROTO_IP, n.constants.IP_MULTICAST_TTL, 1)
  pump()
} else if (mode === "send") {
  const socket = dgram.createSocket({ type: "udp4", sendBufferSize: 2 << 20 })
  const payload = Buffer.alloc(SIZE, 0x5a)
  const total = Number(count)
  socket.bind(0, iface, () => {
    socket.setMulticastInterface(iface)
    socket.setMulticastTTL(1)
    let sent = 0
    const started = performance.now()
    const burst = () => {
      for (let i = 0; i < 64 && sent < total; i++, sent++) socket.send(payload, Number(port), group)
      if (sent < total) setImmediate(burst)
      else socket.close(() => finished(sent, started))
    }
    burst()
  })
} else {
  console.error("usage: dgramProbe.js recv|send GROUP PORT IFACE_ADDR [COUNT] [--io dgram|native]")
  process.exitCode = 2
}
