// A socket.io-client front end that follows one topic of a live-resource
// Socket.IO server the way a browser app would: snapshot, then merge each
// update in seq order, resume with `since` after a reconnect, start over on a
// gap or a resync. Prints each state, and each protocol event, as JSON lines.
//
// usage: node subscriber.mjs URL TOPIC [LIFETIME_MS]
import { io } from "socket.io-client";
import { boundLifetime, mergePatch, onCommands, print } from "./merge.mjs";

const [url, topic, lifetime = "60000"] = process.argv.slice(2);
boundLifetime(Number(lifetime));

let state;
let version;
const socket = io(url, {
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 250,
});

function subscribe() {
  const request = version === undefined ? { topic } : { topic, since: version };
  print({ event: "subscribe", since: request.since ?? null });
  socket.emit("subscribe", request);
}

socket.on("connect", () => {
  print({ event: "connect", id: socket.id });
  subscribe();
});
socket.on("disconnect", (reason) => print({ event: "disconnect", reason }));
// Events of other topics (subscribed by an `emit` command) are printed, not
// applied: a test sees what reaches the socket for each topic.
const other = (kind, message) =>
  print({ event: "other", kind, topic: message.topic, seq: message.seq ?? message.version });
socket.on("snapshot", (message) => {
  if (message.topic !== topic) return other("snapshot", message);
  state = message.data;
  version = message.version;
  print({ event: "snapshot", version });
  print({ state, version });
});
socket.on("update", (message) => {
  if (message.topic !== topic) return other("update", message);
  if (version === undefined || message.seq <= version) return;
  if (message.seq !== version + 1) {
    print({ event: "gap", expected: version + 1, received: message.seq });
    version = undefined;
    return subscribe();
  }
  if ("merge" in message) state = mergePatch(state, message.merge);
  else if ("replace" in message) state = message.replace;
  else throw new Error("this peer applies merge and replace only");
  version = message.seq;
  print({ state, version });
});
socket.on("resync", (message) => {
  if (message.topic !== topic) return;
  print({ event: "resync" });
  version = undefined;
  subscribe();
});
socket.on("heartbeat", (message) => print({ event: "heartbeat", seq: message.seq }));
socket.on("error", (message) => print({ event: "error", ...message }));
const protocol = new Set(["snapshot", "update", "resync", "heartbeat", "error"]);
socket.onAny((name, ...args) => {
  if (!protocol.has(name)) print({ event: "custom", name, args });
});

onCommands((command) => {
  if (command.op === "unsubscribe") {
    socket.emit("unsubscribe", { topic });
    print({ ok: "unsubscribe" });
  } else if (command.op === "emit") {
    socket.emit(command.event, command.data);
    print({ ok: "emit" });
  } else if (command.op === "binary") {
    // An event with binary attachments, which the protocol has no use for.
    const attachments = Array.from({ length: command.count }, () => Buffer.alloc(command.bytes));
    socket.emit(command.event, { topic: "board" }, ...attachments);
    print({ ok: "binary" });
  }
});
