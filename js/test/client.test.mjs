// The client's guarantees against a fake server: the handoff, duplicates,
// gaps, a lost last update, resyncs, reconnects with backoff, silence, many
// topics on one socket, the SSE fallback, per-subscriber unsubscribe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, connect, liveResource, liveTable, rowEvents } from "../live-resource.js";
import { Clock, fakeEventSources, fakeFetch, fakeWebSockets, settle } from "./fakes.mjs";

let hosts = 0;
/** A client on a base URL of its own, with fakes for everything it takes. */
function setup(options = {}) {
  const clock = new Clock();
  const ws = fakeWebSockets();
  const es = fakeEventSources();
  const http = fakeFetch(options.routes ?? {});
  const base = `http://host${++hosts}.test`;
  const connection = connect(base, {
    WebSocket: ws.WebSocket,
    EventSource: es.EventSource,
    fetch: http.fetch,
    clock,
    random: () => 0.5,
    backoff: { initialMs: 100, maxMs: 1_000, healthyAfterMs: 5_000 },
    idleTimeoutMs: 3_000,
    ...options.client,
  });
  const follow = (topic) => {
    const resource = liveResource(base, topic);
    const seen = [];
    const subscription = resource.subscribe((value) => seen.push(value));
    return { resource, seen, subscription };
  };
  return { clock, ws, es, http, base, connection, follow };
}

const update = (topic, seq, merge) => ({ type: "update", topic, seq, merge });
const snapshot = (topic, version, data) => ({ type: "snapshot", topic, version, data });

test("the handoff: updates that come before the snapshot are held, cut at its version, then applied", () => {
  const { ws, follow } = setup();
  const { resource, seen } = follow("quotes");
  assert.equal(resource.status, "connecting");
  assert.equal(resource.value, undefined);
  const socket = ws.last();
  assert.equal(socket.url, `${new URL(socket.url).origin}/live/ws`.replace(/^http/, "ws"));
  socket.accept();
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "quotes" }]);
  // An old subscription's update (17, in the snapshot) and a newer one (18).
  socket.deliver(update("quotes", 17, { a: 1 }));
  socket.deliver(update("quotes", 18, { b: 2 }));
  assert.deepEqual(seen, [], "nothing is shown before the snapshot");
  socket.deliver(snapshot("quotes", 17, { a: 1, n: { x: 1, y: 2 } }));
  assert.deepEqual(seen, [{ a: 1, b: 2, n: { x: 1, y: 2 } }]);
  assert.equal(resource.version, 18);
  assert.equal(resource.status, "live");
  socket.deliver(update("quotes", 19, { n: { y: null } }));
  assert.deepEqual(resource.value, { a: 1, b: 2, n: { x: 1 } }, "a deep merge: the sibling stays");
  assert.equal(seen.length, 2);
  assert.equal(seen[0].n.y, 2, "the state shown before is not changed in place");
});

test("duplicates are dropped", () => {
  const { ws, follow } = setup();
  const { resource, seen } = follow("t");
  const socket = ws.last();
  socket.accept();
  socket.deliver(snapshot("t", 5, { n: 0 }));
  socket.deliver(update("t", 6, { n: 6 }));
  socket.deliver(update("t", 6, { n: 66 }));
  socket.deliver(update("t", 4, { n: 44 }));
  assert.deepEqual(resource.value, { n: 6 });
  assert.equal(seen.length, 2);
  assert.equal(resource.stats.duplicates, 2);
});

test("a gap resumes from the last version: the replay fills it, nothing twice", () => {
  const { ws, follow } = setup();
  const { resource, seen } = follow("t");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 1, { log: [] }));
  socket.deliver({ type: "update", topic: "t", seq: 2, patch: [{ op: "add", path: "/log/-", value: 2 }] });
  // 3 is lost on the way.
  socket.deliver({ type: "update", topic: "t", seq: 4, patch: [{ op: "add", path: "/log/-", value: 4 }] });
  assert.equal(resource.status, "resyncing");
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "t", since: 2 }]);
  // The old subscription's next update, still on its way, is not a new gap.
  socket.deliver({ type: "update", topic: "t", seq: 5, patch: [{ op: "add", path: "/log/-", value: 5 }] });
  assert.deepEqual(socket.take(), []);
  for (const seq of [3, 4, 5]) {
    socket.deliver({ type: "update", topic: "t", seq, patch: [{ op: "add", path: "/log/-", value: seq }] });
  }
  assert.deepEqual(resource.value, { log: [2, 3, 4, 5] });
  assert.equal(resource.version, 5);
  assert.equal(resource.status, "live");
  assert.equal(resource.stats.gaps, 1);
  assert.deepEqual(seen.map((s) => s.log.length), [0, 1, 2, 3, 4]);
});

test("a heartbeat naming an update never received resumes from the last version", () => {
  const { ws, follow } = setup();
  const { resource } = follow("t");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 10, { v: 10 }));
  socket.deliver({ type: "heartbeat", topic: "t", seq: 10 });
  assert.deepEqual(socket.take(), [], "a heartbeat at the version is quiet");
  socket.deliver({ type: "heartbeat", topic: "t", seq: 11 });
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "t", since: 10 }]);
  socket.deliver(update("t", 11, { v: 11 }));
  assert.deepEqual(resource.value, { v: 11 });
  assert.equal(resource.status, "live");
});

test("a resync keeps the last state until the new snapshot, then swaps it in whole", () => {
  const { ws, follow } = setup();
  const { resource, seen } = follow("t");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 100, { a: 1, gone: true }));
  socket.deliver({ type: "resync", topic: "t" });
  assert.equal(resource.status, "resyncing");
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "t" }]);
  assert.deepEqual(resource.value, { a: 1, gone: true }, "readable while resyncing");
  // A new history (a new server) numbered lower: the snapshot is taken whole.
  socket.deliver(update("t", 3, { b: 3 }));
  socket.deliver(snapshot("t", 2, { a: 2 }));
  assert.deepEqual(resource.value, { a: 2, b: 3 });
  assert.equal(resource.version, 3);
  assert.equal(resource.status, "live");
  assert.deepEqual(seen.at(-1), { a: 2, b: 3 });
  assert.equal(seen.length, 2, "the swap is one change");
});

test("a patch that does not apply keeps the last good state and resyncs", () => {
  const { ws, follow } = setup();
  const { resource } = follow("t");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 1, { a: 1 }));
  socket.deliver({ type: "update", topic: "t", seq: 2, patch: [{ op: "remove", path: "/missing" }] });
  assert.deepEqual(resource.value, { a: 1 });
  assert.equal(resource.error.code, "apply_failed");
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "t" }]);
  socket.deliver(snapshot("t", 2, { a: 2 }));
  assert.equal(resource.status, "live");
});

test("repeated resyncs back off instead of looping", () => {
  const { ws, clock, follow } = setup();
  follow("t");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 1, {}));
  socket.deliver({ type: "resync", topic: "t" });
  assert.equal(socket.take().length, 1, "the first at once");
  socket.deliver({ type: "resync", topic: "t" });
  assert.equal(socket.take().length, 0, "the second after a delay");
  clock.advance(backoffDelay(1, { initialMs: 100, maxMs: 1000 }, () => 0.5));
  assert.equal(socket.take().length, 1);
});

test("a lost connection reconnects with backoff and resumes from the last version", () => {
  const { ws, clock, follow, connection } = setup();
  const { resource, seen } = follow("t");
  let socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 7, { n: 7 }));
  socket.fail();
  assert.equal(resource.status, "reconnecting");
  assert.equal(connection.status, "reconnecting");
  assert.equal(ws.sockets.length, 1, "not at once");
  clock.advance(50); // attempt 0: up to 100 ms, 50 with random() = 0.5
  assert.equal(ws.sockets.length, 2);
  socket = ws.last();
  socket.fail(); // the server is still down
  clock.advance(99);
  assert.equal(ws.sockets.length, 2, "attempt 1 waits 50 % to 150 % of 100 ms");
  clock.advance(1);
  socket = ws.last();
  socket.accept();
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "t", since: 7 }]);
  assert.equal(resource.status, "reconnecting", "until the server answers");
  socket.deliver(update("t", 8, { n: 8 }));
  assert.equal(resource.status, "live");
  assert.deepEqual(seen.map((s) => s.n), [7, 8]);
  assert.equal(connection.reconnects, 1);
});

test("a quiet resume is answered by a heartbeat at the version: live again", () => {
  const { ws, clock, follow } = setup();
  const { resource } = follow("t");
  ws.last().accept();
  ws.last().deliver(snapshot("t", 7, {}));
  ws.last().fail();
  clock.advance(100);
  ws.last().accept();
  ws.last().deliver({ type: "heartbeat", topic: "t", seq: 7 });
  assert.equal(resource.status, "live");
});

test("backoff delays stay in the documented bounds, and start over after a healthy period", () => {
  const options = { initialMs: 500, maxMs: 30_000 };
  for (const random of [0, 0.25, 0.5, 0.999999]) {
    assert.ok(backoffDelay(0, options, () => random) <= 500);
    for (let attempt = 1; attempt < 12; attempt++) {
      const base = Math.min(500 * 2 ** (attempt - 1), 30_000);
      const delay = backoffDelay(attempt, options, () => random);
      assert.ok(delay >= base / 2 && delay <= Math.min(base * 1.5, 30_000), `attempt ${attempt}: ${delay}`);
    }
  }
  assert.equal(backoffDelay(20, options, () => 0.999999), 30_000);

  const { ws, clock, follow } = setup();
  follow("t");
  ws.last().accept();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    ws.last().fail();
    delays.push(clock.pending()[0]);
    clock.advance(clock.pending()[0]);
  }
  assert.deepEqual(delays, [50, 100, 200, 400, 800]);
  ws.last().accept();
  assert.equal(clock.pending().length, 1, "the idle watch only");
  ws.last().fail();
  assert.equal(clock.pending()[0], 1_000, "an open that does not last does not start the delays over");
  clock.advance(1_000);
  ws.last().accept();
  for (let second = 0; second < 5; second++) {
    clock.advance(1_000); // healthy for healthyAfterMs, heartbeats coming
    ws.last().deliver({ type: "heartbeat", topic: "t", seq: null });
  }
  ws.last().fail();
  assert.equal(clock.pending()[0], 50, "the first retry after a healthy period");
});

test("a silent connection is taken for dead and replaced", () => {
  const { ws, clock, follow } = setup();
  const { resource } = follow("t");
  const first = ws.last();
  first.accept();
  first.deliver(snapshot("t", 1, {}));
  clock.advance(2_000);
  first.deliver({ type: "heartbeat", topic: "t", seq: 1 });
  clock.advance(2_999);
  assert.equal(ws.sockets.length, 1, "heard from 2999 ms ago: alive");
  clock.advance(1);
  assert.ok(first.closed, "3000 ms of silence: dead");
  assert.equal(resource.status, "reconnecting");
  clock.advance(100);
  assert.equal(ws.sockets.length, 2);
});

test("many topics share one WebSocket, and each gets its own messages", () => {
  const { ws, follow, base } = setup();
  const a = follow("quotes");
  const b = follow("jobs/report");
  const c = follow("quotes"); // the same resource again
  assert.equal(a.resource, c.resource);
  assert.notEqual(a.resource, b.resource);
  assert.equal(ws.sockets.length, 1);
  const socket = ws.last();
  socket.accept();
  assert.deepEqual(socket.take(), [
    { type: "subscribe", topic: "quotes" },
    { type: "subscribe", topic: "jobs/report" },
  ]);
  socket.deliver(snapshot("quotes", 1, { q: 1 }));
  socket.deliver(snapshot("jobs/report", 9, { done: 0 }));
  socket.deliver(update("jobs/report", 10, { done: 5 }));
  assert.deepEqual(a.seen, [{ q: 1 }]);
  assert.deepEqual(c.seen, [{ q: 1 }]);
  assert.deepEqual(b.seen, [{ done: 0 }, { done: 5 }]);
  // A late subscriber gets the current state at once.
  const late = [];
  liveResource(base, "jobs/report").subscribe((v) => late.push(v));
  assert.deepEqual(late, [{ done: 5 }]);
  assert.deepEqual(socket.take(), [], "no second subscription for it");
});

test("unsubscribe ends one subscriber's subscription, the topic's only with the last", () => {
  const { ws, clock, follow, base } = setup({ client: { idleTimeoutMs: 0 } });
  const first = follow("t");
  const other = [];
  const second = liveResource(base, "t").subscribe({ next: (v) => other.push(v) });
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("t", 1, { n: 1 }));
  first.subscription.unsubscribe();
  first.subscription.unsubscribe(); // twice is once
  assert.equal(first.subscription.closed, true);
  socket.deliver(update("t", 2, { n: 2 }));
  assert.deepEqual(first.seen, [{ n: 1 }]);
  assert.deepEqual(other, [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(socket.take(), [], "the other still follows");
  second.unsubscribe();
  assert.deepEqual(socket.take(), [], "not before the grace period");
  clock.advance(5_000);
  assert.deepEqual(socket.take(), [{ type: "unsubscribe", topic: "t" }]);
  assert.equal(first.resource.status, "closed");
  clock.advance(1_000);
  assert.ok(socket.closed, "the socket goes after the linger with nothing to follow");
  // Following it again takes a new snapshot: its state was let go.
  const again = liveResource(base, "t").subscribe(() => {});
  ws.last().accept();
  assert.deepEqual(ws.last().take(), [{ type: "subscribe", topic: "t" }]);
  again.unsubscribe();
});

test("a topic no one follows is let go after the grace period, and a subscriber back within it keeps it", () => {
  const { ws, clock, follow, connection } = setup({ client: { idleTimeoutMs: 0 } });
  const first = follow("jobs/1");
  const socket = ws.last();
  socket.accept();
  socket.take();
  socket.deliver(snapshot("jobs/1", 3, { done: 3 }));
  first.subscription.unsubscribe();
  clock.advance(4_000);
  socket.deliver(update("jobs/1", 4, { done: 4 }));
  // Back within the grace period: the same resource, current, nothing asked.
  const back = follow("jobs/1");
  assert.equal(back.resource, first.resource);
  assert.deepEqual(back.seen, [{ done: 4 }]);
  assert.equal(back.resource.status, "live");
  clock.advance(10_000);
  assert.deepEqual(socket.take(), [], "followed still: no unsubscribe");
  back.subscription.unsubscribe();
  clock.advance(5_000);
  assert.deepEqual(socket.take(), [{ type: "unsubscribe", topic: "jobs/1" }]);
  assert.equal(back.resource.value, undefined, "its state is dropped");
  assert.equal(connection.resources.has("jobs/1"), false);
  socket.deliver(update("jobs/1", 5, { done: 5 }));
  assert.deepEqual(back.seen, [{ done: 4 }], "a late message of it is ignored");

  // Many short-lived topics: the client holds only those followed.
  for (let n = 2; n < 100; n++) {
    const job = follow(`jobs/${n}`);
    socket.deliver(snapshot(`jobs/${n}`, 1, { n }));
    job.subscription.unsubscribe();
  }
  const kept = follow("jobs/kept");
  clock.advance(5_000);
  assert.deepEqual([...connection.resources.keys()], ["jobs/kept"]);
  assert.equal(socket.take().filter((m) => m.type === "unsubscribe").length, 98);
  // An old resource object followed again takes its place back.
  const old = first.resource.subscribe(() => {});
  assert.equal(connection.resources.get("jobs/1"), first.resource);
  assert.deepEqual(socket.take(), [{ type: "subscribe", topic: "jobs/1" }]);
  old.unsubscribe();
  kept.subscription.unsubscribe();
});

test("releaseAfterMs: 0 lets a topic go with its last subscriber", () => {
  const { ws, follow } = setup({ client: { releaseAfterMs: 0 } });
  const { subscription, resource } = follow("t");
  ws.last().accept();
  ws.last().take();
  subscription.unsubscribe();
  assert.deepEqual(ws.last().take(), [{ type: "unsubscribe", topic: "t" }]);
  assert.equal(resource.status, "closed");
});

test("an unknown topic errors its subscribers; following it again asks again", () => {
  const { ws, follow } = setup();
  const { resource } = follow("t");
  const errors = [];
  resource.subscribe({ error: (e) => errors.push(e) });
  ws.last().accept();
  ws.last().take();
  ws.last().deliver({ type: "error", topic: "t", code: "unknown_topic", message: "unknown topic `t`" });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "unknown_topic");
  assert.equal(resource.status, "failed");
  resource.subscribe(() => {});
  assert.deepEqual(ws.last().take(), [{ type: "subscribe", topic: "t" }]);
});

test("Symbol.observable: RxJS-style consumers take a resource as it is", async () => {
  const { ws, follow } = setup();
  const { resource } = follow("t");
  const interop = resource["@@observable"]();
  assert.equal(interop, resource);
  const seen = [];
  const subscription = interop.subscribe({ next: (v) => seen.push(v), error() {}, complete() {} });
  assert.equal(typeof subscription.unsubscribe, "function");
  ws.last().accept();
  ws.last().deliver(snapshot("t", 1, { a: 1 }));
  assert.deepEqual(seen, [{ a: 1 }]);
  // Where Symbol.observable exists when the module loads (a polyfill, RxJS's
  // own), the resource answers to it too.
  Symbol.observable ??= Symbol("observable");
  const fresh = await import("../live-resource.js?with-symbol-observable");
  const other = fresh.liveResource("http://symbol.test", "t", { WebSocket: ws.WebSocket });
  assert.equal(typeof other[Symbol.observable], "function");
  assert.equal(other[Symbol.observable](), other);
});

test("status changes are observable", () => {
  const { ws, follow } = setup();
  const { resource } = follow("t");
  const statuses = [];
  resource.statuses.subscribe((s) => statuses.push(s));
  ws.last().accept();
  ws.last().deliver(snapshot("t", 1, {}));
  ws.last().deliver({ type: "resync", topic: "t" });
  ws.last().deliver(snapshot("t", 2, {}));
  ws.last().fail();
  assert.deepEqual(statuses, ["connecting", "live", "resyncing", "live", "reconnecting"]);
});

test("blocked WebSockets: every topic follows on one event stream, from snapshots, with the same gap checks", async () => {
  const { ws, es, http, clock, follow, base } = setup({ routes: { "/live": [200, { topics: [] }] } });
  const a = follow("quotes");
  ws.last().fail(); // refused before it opened: a proxy that blocks upgrades
  const b = follow("jobs/report");
  const c = follow("logs");
  await settle();
  assert.deepEqual(http.calls, ["/live"], "the server answers plain HTTP");
  assert.equal(es.sources.length, 0, "topics asked for together wait for each other");
  clock.advance(50);
  assert.equal(es.sources.length, 1, "one stream for them all");
  let source = es.last();
  assert.equal(new URL(source.url).pathname, "/live/sse");
  assert.deepEqual(source.topics(), [["quotes", undefined], ["jobs/report", undefined], ["logs", undefined]]);
  source.open();
  source.deliver(snapshot("quotes", 1, { q: 1 }));
  source.deliver(snapshot("jobs/report", 4, { done: 4 }));
  source.deliver(snapshot("logs", 7, []));
  source.deliver(update("jobs/report", 5, { done: 5 }));
  assert.deepEqual(a.seen, [{ q: 1 }]);
  assert.deepEqual(b.seen, [{ done: 4 }, { done: 5 }]);
  assert.equal(b.resource.status, "live");
  source.deliver(update("jobs/report", 5, { done: 55 }));
  assert.equal(b.resource.stats.duplicates, 1);

  // A heartbeat naming an update never received: the stream is made again
  // with every topic's version.
  source.deliver({ type: "heartbeat", topic: "jobs/report", seq: 6 });
  clock.advance(50);
  assert.ok(source.closed);
  source = es.last();
  assert.deepEqual(source.topics(), [["quotes", 1], ["jobs/report", 5], ["logs", 7]]);
  source.open();
  source.deliver(update("jobs/report", 6, { done: 6 }));
  assert.deepEqual(b.resource.value, { done: 6 });

  // A resync: a new stream without a version for that topic.
  source.deliver({ type: "resync", topic: "quotes" });
  clock.advance(50);
  source = es.last();
  assert.deepEqual(source.topics(), [["quotes", undefined], ["jobs/report", 6], ["logs", 7]]);
  source.open();
  source.deliver(snapshot("quotes", 9, { q: 9 }));
  assert.deepEqual(a.resource.value, { q: 9 });

  // A topic added later joins with the others' versions.
  const d = follow("users/7/a b?c:d");
  clock.advance(50);
  source = es.last();
  assert.deepEqual(source.topics().at(-1), ["users/7/a b?c:d", undefined]);
  assert.deepEqual(source.topics()[0], ["quotes", 9]);
  source.open();
  source.deliver(snapshot("users/7/a b?c:d", 2, { odd: true }));
  assert.deepEqual(d.seen, [{ odd: true }]);

  // A stream that fails comes back after a backoff, resuming every topic.
  const sources = es.sources.length;
  source.fail();
  assert.equal(a.resource.status, "reconnecting");
  assert.equal(es.sources.length, sources, "not at once: after a backoff");
  clock.advance(clock.pending()[0]);
  source = es.last();
  assert.deepEqual(source.topics(), [["quotes", 9], ["jobs/report", 6], ["logs", 7], ["users/7/a b?c:d", 2]]);
  source.open();
  source.deliver({ type: "heartbeat", topic: "quotes", seq: 9 });
  assert.equal(a.resource.status, "live");
  void base;
});

test("over SSE a refused topic errors its subscribers and the others go on", () => {
  const { es, clock, follow } = setup({ client: { transport: "sse" } });
  const good = follow("t");
  const { resource } = follow("nope");
  const errors = [];
  resource.subscribe({ error: (e) => errors.push(e.code) });
  clock.advance(50);
  const source = es.last();
  source.open();
  source.deliver({ type: "error", topic: "nope", code: "unknown_topic", message: "unknown topic `nope`" });
  source.deliver(snapshot("t", 1, { a: 1 }));
  assert.deepEqual(errors, ["unknown_topic"]);
  assert.equal(resource.status, "failed");
  clock.advance(50);
  assert.equal(es.sources.length, 1, "the server follows it no more: the stream stays");
  assert.deepEqual(good.seen, [{ a: 1 }]);
  source.deliver({ type: "error", topic: "t", code: "forbidden", message: "denied" });
  assert.equal(good.resource.status, "failed");
  assert.deepEqual(good.resource.value, { a: 1 }, "the last state stays readable");
  assert.ok(source.closed, "nothing left to follow");
});

test("over SSE the base URL's query stays, topics are form-encoded, and a topic let go leaves the stream", () => {
  const { es, clock, base, connection } = setup({ client: { transport: "sse" } });
  const other = connect(`${base}/api?token=x%26y`, { EventSource: es.EventSource, clock, transport: "sse" });
  const a = liveResource("", "a&b=c+d", { connection: other }).subscribe(() => {});
  const b = liveResource("", "e", { connection: other }).subscribe(() => {});
  clock.advance(50);
  const url = new URL(es.last().url);
  assert.equal(url.pathname, "/api/live/sse");
  assert.equal(url.searchParams.get("token"), "x&y");
  assert.deepEqual(es.last().topics(), [["a&b=c+d", undefined], ["e", undefined]]);
  es.last().open();
  es.last().deliver(snapshot("a&b=c+d", 3, {}));
  a.unsubscribe();
  clock.advance(5_000);
  clock.advance(50);
  assert.deepEqual(es.last().topics(), [["e", undefined]]);
  b.unsubscribe();
  clock.advance(5_000);
  assert.ok(es.last().closed);
  other.close();
  void connection;
});

test("rowEvents: added, modified and removed rows from each merge patch's top-level keys", () => {
  const { ws, base } = setup();
  const events = [];
  const subscription = liveTable(base, "records").subscribe((e) => events.push(e));
  const socket = ws.last();
  socket.accept();
  socket.deliver(snapshot("records", 1, { r1: { id: "r1", status: "generated" } }));
  socket.deliver(update("records", 2, { r2: { id: "r2", status: "generated" }, r1: { status: "done" } }));
  socket.deliver(update("records", 3, { r1: null, r9: null }));
  socket.deliver({ type: "update", topic: "records", seq: 4, patch: [{ op: "replace", path: "/r2/status", value: "processing" }] });
  assert.equal(events.length, 4);
  assert.equal(events[0].reset, true);
  assert.deepEqual(events[0].rows, { r1: { id: "r1", status: "generated" } });
  assert.deepEqual(
    events[1].changes.map((c) => [c.type, c.id, c.row?.status]),
    [["added", "r2", "generated"], ["modified", "r1", "done"]],
  );
  assert.deepEqual(events[1].changes[1].patch, { status: "done" });
  assert.deepEqual(events[2].changes.map((c) => [c.type, c.id]), [["removed", "r1"]]);
  assert.deepEqual(events[3].changes.map((c) => [c.type, c.id, c.row.status]), [["modified", "r2", "processing"]]);
  assert.equal(events[3].version, 4);
  // A late subscriber starts with a reset to the whole table.
  const late = [];
  rowEvents(liveResource(base, "records")).subscribe((e) => late.push(e)).unsubscribe();
  assert.deepEqual(late.map((e) => [e.reset, Object.keys(e.rows)]), [[true, ["r2"]]]);
  subscription.unsubscribe();
});
