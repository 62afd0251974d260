/**
 * The runtime's ceiling on makuo's path, for the benchmark: `send` pushes 1066-byte datagrams (makuo's DATA size)
 * to a multicast group from `node:dgram` as fast as it can, 64 per event-loop turn like makuo's DATA loop;
 * `recv` counts what arrives and prints JSON once the sender has stopped. No protocol, no acknowledgement.
 *   node dgramProbe.js recv GROUP PORT IFACE_ADDR
 *   node dgramProbe.js send GROUP PORT IFACE_ADDR COUNT
 */
import * as dgram from "node:dgram"

const [mode, group = "239.77.0.1", port = "6000", iface = "127.0.0.1", count = "100000"] = process.argv.slice(2)

if (mode === "recv") {
  const socket = dgram.createSocket({ type: "udp4", reuseAddr: true, recvBufferSize: 8 << 20 })
  let datagrams = 0
  let bytes = 0
  let first = 0
  let last = 0
  socket.on("message", (m) => {
    const now = performance.now()
    if (datagrams === 0) first = now
    last = now
    datagrams++
    bytes += m.length
  })
  socket.bind(Number(port), () => {
    socket.addMembership(group, iface)
    console.error("ready")
    // done when nothing has arrived for a second after the first datagram (or after 60 s of nothing)
    const timer = setInterval(() => {
      const now = performance.now()
      if ((datagrams > 0 && now - last > 1000) || now > 60_000) {
        clearInterval(timer)
        socket.close()
        console.log(JSON.stringify({ datagrams, bytes, seconds: (last - first) / 1000 }))
      }
    }, 100)
  })
} else if (mode === "send") {
  const socket = dgram.createSocket({ type: "udp4", sendBufferSize: 2 << 20 })
  const payload = Buffer.alloc(1066, 0x5a)
  const total = Number(count)
  socket.bind(0, iface, () => {
    socket.setMulticastInterface(iface)
    socket.setMulticastTTL(1)
    let sent = 0
    const started = performance.now()
    const burst = () => {
      for (let i = 0; i < 64 && sent < total; i++, sent++) socket.send(payload, Number(port), group)
      if (sent < total) setImmediate(burst)
      else socket.close(() => console.log(JSON.stringify({ sent, seconds: (performance.now() - started) / 1000 })))
    }
    burst()
  })
} else {
  console.error("usage: dgramProbe.js recv|send GROUP PORT IFACE_ADDR [COUNT]")
  process.exitCode = 2
}
