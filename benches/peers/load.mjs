// The Node.js load generator, as a Node app would subscribe: socket.io-client
// 4.8 (websocket transport only) against a Socket.IO server, or the `ws`
// package speaking live-resource's WebSocket protocol. Same phases and the
// same JSON report as `fanout load` (examples/fanout.rs): start the server
// command, connect K subscribers to `quotes`, read the server's resident
// memory before and after, a burst of M updates (deliveries per second),
// then P updates one every X ms (publish-to-receipt latency), the server's
// CPU time for each. Every message is parsed as JSON (socket.io-client does
// it itself).
//
// usage: node load.mjs --proto ours|socketio --subscribers K --updates M
//                      --paced P --pace-ms X [--state-bytes B] -- SERVER COMMAND..
// (--state-bytes is only reported: the size of the state the server was given)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { nowUs } from "./clock.mjs";

const TOPIC = "quotes";
const argv = process.argv.slice(2);
const split = argv.indexOf("--");
if (split < 0) throw new Error("usage: node load.mjs [--flag value].. -- SERVER COMMAND..");
const flags = {};
for (let i = 0; i < split; i += 2) flags[argv[i].replace(/^--/, "")] = argv[i + 1];
const command = argv.slice(split + 1);
const proto = flags.proto ?? "ours";
const k = Number(flags.subscribers ?? 100);
const burst = Number(flags.updates ?? 100);
const paced = Number(flags.paced ?? 50);
const paceMs = Number(flags["pace-ms"] ?? 5);
const stateBytes = Number(flags["state-bytes"] ?? 1024);
const last = burst + paced;

const ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// The whole run is bounded: a stuck peer cannot keep it alive.
setTimeout(() => {
  process.stderr.write("load.mjs: 15 minutes are over\n");
  process.exit(2);
}, 15 * 60 * 1000).unref();

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 1).trim().split(/\s+/);
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

// CPU time the whole machine spent busy (all but idle and iowait), in
// seconds: what other processes took during a phase is this minus the
// server's and the load generator's own.
function machineBusySeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / ticks;
}

function rssKib(pid) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line.split(/\s+/)[1]);
}

function start() {
  const child = spawn(command[0], command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the server printed no port in 30 s")), 30000);
    child.on("exit", (code) => reject(new Error(`the server exited (${code})`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      const { port, pid } = JSON.parse(line);
      process.stderr.write(`server ${JSON.stringify(command)}: pid ${pid}, port ${port}\n`);
      lines.on("line", (more) => process.stderr.write(`server: ${more}\n`));
      resolve({ child, port, pid });
    });
  });
}

// Latencies in µs, in arrival order, one array per phase.
const burstLatency = new Uint32Array(k * burst);
const pacedLatency = new Uint32Array(k * paced);
let burstCount = 0;
let pacedCount = 0;
let firstTs = Infinity;
let burstDone = 0;
let resyncs = 0;

function onMessage(message) {
  const received = nowUs();
  if (message.type === "resync") resyncs += 1;
  if (message.type !== "update") return;
  const quote = Object.values(message.merge)[0];
  const latency = Math.max(0, received - quote.ts);
  if (message.seq === 1) firstTs = Math.min(firstTs, quote.ts);
  if (message.seq <= burst) {
    burstLatency[burstCount++] = latency;
    if (message.seq === burst) burstDone = Math.max(burstDone, received);
  } else {
    pacedLatency[pacedCount++] = latency;
  }
}

/// One subscriber, resolved once its snapshot arrived; `close()` ends it.
function subscriber(port) {
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

async function connectAll(port) {
  const sockets = [];
  let next = 0;
  async function worker() {
    while (next < k) {
      next += 1;
      const timeout = sleep(60000).then(() => {
        throw new Error("a subscriber took over 60 s to subscribe");
      });
      sockets.push(await Promise.race([subscriber(port), timeout]));
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker));
  return sockets;
}

async function get(port, path) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return response.text();
}

async function until(count, target, limitMs) {
  const deadline = Date.now() + limitMs;
  while (count() < target) {
    if (Date.now() > deadline) return false;
    await sleep(2);
  }
  return true;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((sorted.length * p) / 100);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

const server = await start();
try {
  const { port, pid } = server;
  await sleep(1000);
  const rssBefore = rssKib(pid);
  const connecting = performance.now();
  const sockets = await connectAll(port);
  const connectS = (performance.now() - connecting) / 1000;
  await sleep(2000);
  const rssIdle = rssKib(pid);

  let machine = machineBusySeconds();
  let cpu = cpuSeconds(pid);
  let loader = cpuSeconds(process.pid);
  await get(port, `/bench/publish?count=${burst}&pace_us=0`);
  const burstComplete = await until(() => burstCount, k * burst, 120000);
  const cpuBurst = cpuSeconds(pid) - cpu;
  const loaderBurst = cpuSeconds(process.pid) - loader;
  const othersBurst = machineBusySeconds() - machine - cpuBurst - loaderBurst;
  const rssBurst = rssKib(pid);

  machine = machineBusySeconds();
  cpu = cpuSeconds(pid);
  loader = cpuSeconds(process.pid);
  await get(port, `/bench/publish?count=${paced}&pace_us=${paceMs * 1000}`);
  const pacedComplete = await until(() => pacedCount, k * paced, 120000);
  const cpuPaced = cpuSeconds(pid) - cpu;
  const loaderPaced = cpuSeconds(process.pid) - loader;
  const othersPaced = machineBusySeconds() - machine - cpuPaced - loaderPaced;

  for (const socket of sockets) socket.close();
  const burstSorted = burstLatency.subarray(0, burstCount).sort();
  const pacedSorted = pacedLatency.subarray(0, pacedCount).sort();
  const burstS = (burstDone - firstTs) / 1e6;
  const report = {
    bench: "fanout",
    loader: "node",
    server: proto === "socketio" ? "socket.io" : "live-resource",
    subscribers: k,
    updates: burst,
    paced,
    pace_ms: paceMs,
    state_bytes: stateBytes,
    connect_s: connectS,
    rss_before_kib: rssBefore,
    rss_idle_kib: rssIdle,
    rss_after_burst_kib: rssBurst,
    bytes_per_subscriber: ((rssIdle - rssBefore) * 1024) / k,
    burst_s: burstS,
    deliveries_per_s: (k * burst) / burstS,
    burst_p50_us: percentile(burstSorted, 50),
    burst_p99_us: percentile(burstSorted, 99),
    p50_us: percentile(pacedSorted, 50),
    p99_us: percentile(pacedSorted, 99),
    cpu_burst_s: cpuBurst,
    cpu_paced_s: cpuPaced,
    loader_cpu_burst_s: loaderBurst,
    loader_cpu_paced_s: loaderPaced,
    // Other processes on the machine during each phase: a disturbed run shows here.
    others_cpu_burst_s: Math.max(0, othersBurst),
    others_cpu_paced_s: Math.max(0, othersPaced),
    received: burstCount + pacedCount,
    expected: k * last,
    complete: burstComplete && pacedComplete,
    resyncs,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
} finally {
  server.child.kill("SIGKILL");
}
process.exit(0);
