// One client thread of load.mjs: opens its share of the K subscribers, then
// receives and parses every message exactly as a single-threaded load.mjs
// did, so that the parent can spread the clients over P cores without
// changing what each client does per message.
//
// workerData: { proto, port, count, burst, concurrency, index, counters }
//   counters: a SharedArrayBuffer of Int32, three per worker (burst count,
//   paced count, resyncs), which this worker stores to and the parent only
//   reads: the parent polls them as it polled its own counters before,
//   and no message crosses threads per delivery.
// Messages to the parent: { type: "ready", connectS } once every snapshot has
// arrived, { type: "error", message } if a subscriber fails, and on the
// parent's { type: "finish" }: { type: "result", .. } with the latencies
// (transferred, not copied), after the sockets are closed.
import { parentPort, workerData } from "node:worker_threads";
import { io } from "socket.io-client";
import WebSocket from "ws";
// The same clock as the single-threaded load.mjs and the servers: each thread
// loads its own copy of the module, and so anchors its own offset from the
// shared monotonic clock to the wall clock the same way, to within a few µs.
import { nowUs } from "./clock.mjs";

const TOPIC = "quotes";
const { proto, port, count, burst, paced, concurrency, index, counters } = workerData;
const shared = new Int32Array(counters);
const BURST = index * 3;
const PACED = BURST + 1;
const RESYNCS = BURST + 2;

// Latencies in µs, in arrival order, one array per phase.
const burstLatency = new Uint32Array(count * burst);
const pacedLatency = new Uint32Array(count * paced);
let burstCount = 0;
let pacedCount = 0;
let firstTs = Infinity;
let burstDone = 0;
let resyncs = 0;

function onMessage(message) {
  const received = nowUs();
  if (message.type === "resync") {
    resyncs += 1;
    Atomics.store(shared, RESYNCS, resyncs);
  }
  if (message.type !== "update") return;
  const quote = Object.values(message.merge)[0];
  const latency = Math.max(0, received - quote.ts);
  if (message.seq === 1) firstTs = Math.min(firstTs, quote.ts);
  if (message.seq <= burst) {
    burstLatency[burstCount++] = latency;
    Atomics.store(shared, BURST, burstCount);
    if (message.seq === burst) burstDone = Math.max(burstDone, received);
  } else {
    pacedLatency[pacedCount++] = latency;
    Atomics.store(shared, PACED, pacedCount);
  }
}

/// One subscriber, resolved once its snapshot arrived; `close()` ends it.
function subscriber() {
  return new Promise((resolve, reject) => {
    if (proto === "socketio") {
      const socket = io(`http://127.0.0.1:${port}`, {
        transports: ["websocket"],
        forceNew: true,
        reconnection: false,
      });
      socket.on("connect_error", reject);
      socket.on("connect", () => socket.emit("subscribe", { topic: TOPIC }));
      socket.on("snapshot", () => resolve({ close: () => socket.disconnect() }));
      socket.on("update", onMessage);
      socket.on("resync", onMessage);
    } else {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/live/ws`);
      socket.on("error", reject);
      socket.on("open", () => socket.send(JSON.stringify({ type: "subscribe", topic: TOPIC })));
      socket.on("message", (data) => {
        const message = JSON.parse(data.toString());
        if (message.type === "snapshot") resolve({ close: () => socket.close() });
        else onMessage(message);
      });
    }
  });
}

// At most `concurrency` subscriptions in flight, each bounded to 60 s; the
// timer is cleared once the subscriber is in, so that K idle timers do not
// linger.
async function connectAll() {
  const sockets = [];
  let next = 0;
  async function lane() {
    while (next < count) {
      next += 1;
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("a subscriber took over 60 s to subscribe")), 60000);
      });
      try {
        sockets.push(await Promise.race([subscriber(), timeout]));
      } finally {
        clearTimeout(timer);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(count, 1)) }, lane));
  return sockets;
}

let sockets = [];
try {
  const connecting = performance.now();
  sockets = await connectAll();
  parentPort.postMessage({ type: "ready", connectS: (performance.now() - connecting) / 1000 });
} catch (error) {
  parentPort.postMessage({ type: "error", message: String(error?.message ?? error) });
}

parentPort.on("message", (message) => {
  if (message.type !== "finish") return;
  // Closed only after the measurement, as before: a close is work for the
  // server, and it must not compete with the deliveries being measured.
  for (const socket of sockets) socket.close();
  const burstOut = burstLatency.slice(0, burstCount);
  const pacedOut = pacedLatency.slice(0, pacedCount);
  parentPort.postMessage(
    { type: "result", burstLatency: burstOut, pacedLatency: pacedOut, burstCount, pacedCount, firstTs, burstDone, resyncs },
    [burstOut.buffer, pacedOut.buffer],
  );
});
