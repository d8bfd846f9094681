// The peer server: a Node.js Socket.IO 4.8 server holding one topic,
// `quotes` (the 1 KB dashboard `fanout merge` wrote), in the envelopes of
// live-resource's Socket.IO adapter. A subscriber emits `subscribe`, joins
// the topic's room and gets a `snapshot`; each update is merged into the state
// (json-merge-patch) and broadcast to the room as one `update` event:
// Socket.IO encodes a broadcast once for the whole room.
//
// `GET /bench/publish?count=M&pace_us=P` publishes M single-price updates
// with a timestamp (wall-clock µs), one every P µs (0: all at once), and
// answers when the last one is sent. Listens on 127.0.0.1 port 0 and prints
// {"port":..,"pid":..}; lives at most LIFETIME_MS (default 15 minutes).
//
// With REDIS_URL set it is one node of several (`fanout cluster`): the
// `@socket.io/redis-streams-adapter` on that Redis (the `redis` client, as
// its README shows) carries each broadcast to the other nodes, and
// connection state recovery is on, as the adapter's README describes, so
// that a client that lost its node can resume on another one (its session
// and offset found in Redis). Only the node that publishes changes its
// state: the others serve the state they started with (version 0), as the
// snapshot is not what this run measures.
//
// usage: [REDIS_URL=redis://..] node server.mjs DASHBOARD_JSON [LIFETIME_MS]
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { Server } from "socket.io";
import jsonMergePatch from "json-merge-patch";
import { nowUs } from "./clock.mjs";

const [path, lifetime = "900000"] = process.argv.slice(2);
if (!path) throw new Error("usage: node server.mjs DASHBOARD_JSON [LIFETIME_MS]");
setTimeout(() => process.exit(3), Number(lifetime)).unref();

const TOPIC = "quotes";
const state = JSON.parse(readFileSync(path, "utf8"));
const symbols = Object.keys(state);
const symbol = symbols[Math.floor(symbols.length / 2)];
let version = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function publish(count, paceUs) {
  const started = performance.now();
  for (let n = 0; n < count; n++) {
    if (paceUs > 0) await sleep(started + (n * paceUs) / 1000 - performance.now());
    const merge = { [symbol]: { price: 100 + (n % 100) / 100, ts: nowUs() } };
    jsonMergePatch.apply(state, merge);
    version += 1;
    io.to(TOPIC).emit("update", { type: "update", topic: TOPIC, seq: version, merge });
  }
}

const http = createServer((request, response) => {
  const url = new URL(request.url, "http://127.0.0.1");
  if (url.pathname !== "/bench/publish") {
    response.writeHead(404).end();
    return;
  }
  const count = Number(url.searchParams.get("count") ?? 0);
  const paceUs = Number(url.searchParams.get("pace_us") ?? 0);
  publish(count, paceUs).then(() => response.end(`published ${count}`));
});

const options = { transports: ["websocket"], serveClient: false };
if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-streams-adapter");
  const redisClient = createClient({ url: process.env.REDIS_URL });
  await redisClient.connect();
  options.adapter = createAdapter(redisClient);
  options.connectionStateRecovery = { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true };
}
const io = new Server(http, options);
io.on("connection", (socket) => {
  // A recovered socket is back in its rooms, its missed packets sent.
  socket.on("subscribe", (request) => {
    const topic = request?.topic;
    if (topic !== TOPIC) {
      socket.emit("error", { type: "error", topic, code: "unknown_topic", message: "unknown topic" });
      return;
    }
    socket.join(topic);
    socket.emit("snapshot", { type: "snapshot", topic, version, data: state });
  });
  socket.on("unsubscribe", (request) => socket.leave(request?.topic));
});

http.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: http.address().port, pid: process.pid }) + "\n");
});
