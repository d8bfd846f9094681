// The Node.js load generator, as a Node app would subscribe: socket.io-client
// 4.8 (websocket transport only) against a Socket.IO server, or the `ws`
// package speaking live-resource's WebSocket protocol. Same phases and the
// same JSON report as `fanout load` (benches/peers/fanout.rs): start the server
// command, connect K subscribers to `quotes`, read the server's resident
// memory before and after, a burst of M updates (deliveries per second),
// then P updates one every X ms (publish-to-receipt latency), the server's
// CPU time for each. Every message is parsed as JSON (socket.io-client does
// it itself).
//
// The subscribers are spread over --procs worker threads (load-worker.mjs),
// the same way for both protocols: one JavaScript thread parsing every
// message is the limit of a fast server's burst, and a real deployment's
// clients are many processes anyway. This thread starts the server and the
// workers, drives the phases and aggregates what the workers measured.
//
// usage: node load.mjs --proto ours|socketio --subscribers K --updates M
//                      --paced P --pace-ms X [--state-bytes B] [--procs N]
//                      -- SERVER COMMAND..
// (--state-bytes is only reported: the size of the state the server was given;
// --procs defaults to 2, the cores of the machine the results were taken on)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";

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
const procs = Number(flags.procs ?? 2);
if (!Number.isInteger(procs) || procs < 1) throw new Error(`--procs must be a positive integer, not ${flags.procs}`);
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
      const { port, pid, server: name } = JSON.parse(line);
      process.stderr.write(`server ${JSON.stringify(command)}: pid ${pid}, port ${port}\n`);
      lines.on("line", (more) => process.stderr.write(`server: ${more}\n`));
      resolve({ child, port, pid, name });
    });
  });
}

// The clients: P worker threads (load-worker.mjs), K split between them as
// evenly as possible, each running the same per-message code. Threads of one
// process rather than processes, so that /proc/PID/stat of this process is
// the CPU of all clients together, and all read the same monotonic clock.
// Each stores its counts into `counters` (three Int32 per worker: burst,
// paced, resyncs) and the main thread only polls them.
const counters = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT * 3 * procs);
const counts = new Int32Array(counters);
const sum = (offset) => {
  let total = 0;
  for (let i = 0; i < procs; i += 1) total += Atomics.load(counts, i * 3 + offset);
  return total;
};
const burstCount = () => sum(0);
const pacedCount = () => sum(1);

// Starts the workers and resolves once every subscriber of every worker has
// its snapshot. The 64 subscriptions in flight of the single-threaded
// generator are shared out, so the server sees the same connection rate.
function connectAll(port) {
  const workers = [];
  const ready = [];
  for (let index = 0; index < procs; index += 1) {
    const count = Math.floor(k / procs) + (index < k % procs ? 1 : 0);
    const worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
      workerData: { proto, port, count, burst, paced, concurrency: Math.ceil(64 / procs), index, counters },
    });
    workers.push(worker);
    ready.push(
      new Promise((resolve, reject) => {
        worker.on("error", reject);
        worker.on("exit", (code) => reject(new Error(`client worker ${index} exited (${code})`)));
        worker.once("message", (message) => {
          if (message.type === "ready") resolve();
          else reject(new Error(`client worker ${index}: ${message.message}`));
        });
      }),
    );
  }
  return { workers, ready: Promise.all(ready) };
}

// Asks each worker to close its sockets and hand over what it measured;
// bounded, so that a worker that never answers cannot hold the run.
function collect(workers) {
  return Promise.all(
    workers.map(
      (worker, index) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`client worker ${index} sent no result in 30 s`)), 30000);
          worker.on("message", (message) => {
            if (message.type !== "result") return;
            clearTimeout(timer);
            resolve(message);
          });
          worker.postMessage({ type: "finish" });
        }),
    ),
  );
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
let workers = [];
try {
  const { port, pid } = server;
  await sleep(1000);
  const rssBefore = rssKib(pid);
  const connecting = performance.now();
  const clients = connectAll(port);
  workers = clients.workers;
  await clients.ready;
  const connectS = (performance.now() - connecting) / 1000;
  await sleep(2000);
  const rssIdle = rssKib(pid);

  let machine = machineBusySeconds();
  let cpu = cpuSeconds(pid);
  let loader = cpuSeconds(process.pid);
  await get(port, `/bench/publish?count=${burst}&pace_us=0`);
  const burstComplete = await until(burstCount, k * burst, 120000);
  const cpuBurst = cpuSeconds(pid) - cpu;
  const loaderBurst = cpuSeconds(process.pid) - loader;
  const othersBurst = machineBusySeconds() - machine - cpuBurst - loaderBurst;
  const rssBurst = rssKib(pid);

  machine = machineBusySeconds();
  cpu = cpuSeconds(pid);
  loader = cpuSeconds(process.pid);
  await get(port, `/bench/publish?count=${paced}&pace_us=${paceMs * 1000}`);
  const pacedComplete = await until(pacedCount, k * paced, 120000);
  const cpuPaced = cpuSeconds(pid) - cpu;
  const loaderPaced = cpuSeconds(process.pid) - loader;
  const othersPaced = machineBusySeconds() - machine - cpuPaced - loaderPaced;

  // What the workers measured, put together as one generator would have:
  // the burst runs from the earliest first-update timestamp any worker saw
  // to the latest receipt of the last burst update in any worker.
  const results = await collect(workers);
  const received = (phase) => results.reduce((total, r) => total + r[phase].length, 0);
  const merged = (phase) => {
    const all = new Uint32Array(received(phase));
    let at = 0;
    for (const r of results) {
      all.set(r[phase], at);
      at += r[phase].length;
    }
    return all.sort();
  };
  const burstSorted = merged("burstLatency");
  const pacedSorted = merged("pacedLatency");
  const firstTs = Math.min(...results.map((r) => r.firstTs));
  const burstDone = Math.max(...results.map((r) => r.burstDone));
  const resyncs = results.reduce((total, r) => total + r.resyncs, 0);
  const burstS = (burstDone - firstTs) / 1e6;
  const report = {
    bench: "fanout",
    loader: "node",
    // `fanout serve` says which server it is; Node's Socket.IO server does not.
    server: server.name ?? (proto === "socketio" ? "socket.io" : "live-resource"),
    proto,
    subscribers: k,
    procs,
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
    received: burstSorted.length + pacedSorted.length,
    expected: k * last,
    complete: burstComplete && pacedComplete,
    resyncs,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
} finally {
  server.child.kill("SIGKILL");
  // process.exit below ends the workers too; terminating them first also
  // covers a run that fails and leaves by an exception.
  await Promise.allSettled(workers.map((worker) => worker.terminate()));
}
process.exit(0);
