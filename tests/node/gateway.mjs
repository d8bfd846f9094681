// A Node Socket.IO gateway with a REST endpoint, driven by the Rust test
// through JSON lines on stdin. Two modes:
//
// - legacy: each change is emitted to every client as a `stats` event
//   carrying the bare partial object, with no seq; GET /api/stats answers
//   the whole state (and its version in `x-version`).
// - envelope: live-resource's protocol for the topic `stats`: `subscribe`
//   with `since`, then `snapshot`, `update`, `resync` events, and a replay
//   ring of RING updates.
//
// Commands: {"op":"merge","patch":{..}} changes the state and tells the
// clients; {"op":"merge-offline","patch":{..}} changes it and tells no one
// (an event lost while a client was away); {"op":"drop","patch":{..}} makes
// that change too, if given, and closes every client's connection;
// {"op":"raw","event":"update","data":..} emits any event and payload to the
// subscribers as they are (a bad message, an `error`). Each command is
// answered with {"ok":..}.
//
// With TLS_CERT and TLS_KEY (paths of PEM files) in the environment it
// serves HTTPS and WSS instead; with PORT, on that port (a restart).
//
// usage: node gateway.mjs MODE [RING] [LIFETIME_MS]
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Server } from "socket.io";
import { boundLifetime, mergePatch, onCommands, print } from "./merge.mjs";

const [mode, ring = "1024", lifetime = "60000"] = process.argv.slice(2);
if (mode !== "legacy" && mode !== "envelope") throw new Error(`unknown mode ${mode}`);
boundLifetime(Number(lifetime));

const topic = "stats";
let state = { online: 0, rooms: { lobby: 0 } };
let version = 0;
let restRequests = 0;
const updates = []; // the last RING updates, oldest first
const subscribers = new Set();

const { TLS_CERT, TLS_KEY, PORT = "0" } = process.env;
const createServer = (handle) =>
  TLS_CERT && TLS_KEY
    ? createHttpsServer({ cert: readFileSync(TLS_CERT), key: readFileSync(TLS_KEY) }, handle)
    : createHttpServer(handle);
const http = createServer((request, response) => {
  if (request.method === "GET" && request.url === "/api/stats") {
    restRequests += 1;
    print({ event: "rest", version, requests: restRequests });
    response.writeHead(200, { "content-type": "application/json", "x-version": String(version) });
    response.end(JSON.stringify(state));
  } else if (!request.url.startsWith("/socket.io/")) {
    response.writeHead(404).end();
  }
});
const io = new Server(http, { transports: ["websocket"], pingInterval: 2000, pingTimeout: 2000 });

io.on("connection", (socket) => {
  print({ event: "connection", id: socket.id });
  socket.on("disconnect", (reason) => {
    subscribers.delete(socket);
    print({ event: "disconnect", reason });
  });
  if (mode !== "envelope") return;
  socket.on("subscribe", (request) => {
    const since = request?.since;
    print({ event: "subscribe", topic: request?.topic, since: since ?? null });
    if (request?.topic !== topic) {
      socket.emit("error", {
        type: "error",
        topic: request?.topic,
        code: "unknown_topic",
        message: "no such topic",
      });
      return;
    }
    if (since === undefined || since === null) {
      socket.emit("snapshot", { type: "snapshot", topic, version, data: state });
    } else if (since !== version) {
      const oldest = updates.length ? updates[0].seq : version + 1;
      if (since > version || since + 1 < oldest) {
        socket.emit("resync", { type: "resync", topic });
      } else {
        for (const update of updates) if (update.seq > since) socket.emit("update", update);
      }
    }
    subscribers.add(socket);
  });
  socket.on("unsubscribe", () => subscribers.delete(socket));
});

function change(patch, tell) {
  state = mergePatch(state, patch);
  version += 1;
  const update = { type: "update", topic, seq: version, merge: patch };
  updates.push(update);
  if (updates.length > Number(ring)) updates.shift();
  if (!tell) return;
  if (mode === "legacy") io.emit("stats", patch);
  else for (const socket of subscribers) socket.emit("update", update);
}

onCommands((command) => {
  if (command.op === "merge") change(command.patch, true);
  else if (command.op === "merge-offline") change(command.patch, false);
  else if (command.op === "drop") {
    // A change the clients are not told of, then the connections drop: as
    // if the change was emitted while they were away.
    if (command.patch) change(command.patch, false);
    io.disconnectSockets(true);
  } else if (command.op === "raw") {
    for (const socket of subscribers) socket.emit(command.event, command.data);
  }
  else throw new Error(`unknown command ${JSON.stringify(command)}`);
  print({ ok: command.op, version, state });
});

http.listen(Number(PORT), "127.0.0.1", () => print({ port: http.address().port }));
