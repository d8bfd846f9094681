// Turns the JSON lines of one run (fanout merge, merge.mjs, fanout load,
// load.mjs, fanout cluster) into the Markdown tables of RESULTS.md.
//
// usage: node report.mjs RESULTS_JSONL
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";

const [path] = process.argv.slice(2);
const lines = readFileSync(path, "utf8")
  .split("\n")
  .filter((line) => line.startsWith("{"))
  .map((line) => JSON.parse(line));
const out = [];
const print = (line = "") => out.push(line);
const sh = (command) => {
  try {
    return execSync(command, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return "?";
  }
};

const ns = (value) => (value === undefined ? "–" : value < 10000 ? `${value.toFixed(0)} ns` : `${(value / 1000).toFixed(1)} µs`);
const times = (slow, fast) => (slow && fast ? `${(slow / fast).toFixed(1)}×` : "–");
const us = (value) => (value >= 10000 ? `${(value / 1000).toFixed(1)} ms` : `${value} µs`);
const rate = (value) => (value >= 1e6 ? `${(value / 1e6).toFixed(2)} M/s` : `${(value / 1e3).toFixed(0)} k/s`);
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

print(`Machine: ${sh("nproc")} cores (${sh("lscpu | sed -n 's/^Model name: *//p'")}), ` +
  `${sh("free -g | awk '/Mem:/ {print $2}'")} GiB; ${sh("uname -sr")}; ` +
  `${sh("rustc --version")}; node ${sh("node --version")}; load average at the end: ${sh("cut -d' ' -f1-3 /proc/loadavg")}.`);
print();

const merges = lines.filter((line) => line.bench === "merge");
if (merges.length) {
  // Each side's best run: the median of a run is what the code costs when
  // the machine left it alone, and a shared machine does not always.
  const runs = [...new Set(merges.map((m) => m.run ?? 1))].sort((a, b) => a - b);
  const medians = (side, impl, input, size, run) =>
    merges
      .filter((m) => m.side === side && m.impl === impl && m.input === input && m.size === size)
      .filter((m) => run === undefined || (m.run ?? 1) === run)
      .map((m) => m.ns_median);
  const find = (side, impl, input, size, run) => {
    const found = medians(side, impl, input, size, run);
    return found.length ? Math.min(...found) : undefined;
  };
  print(`### Merge: one single-price patch into a dashboard (median ns per patch; each side's best of ${runs.length} run${runs.length === 1 ? "" : "s"})`);
  print();
  print("| document | input | live-resource | json_patch::merge | Node json-merge-patch | Node spread (shallow, wrong) | vs json_patch | vs json-merge-patch |");
  print("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const size of ["1KB", "100KB", "1MB"]) {
    const bytes = merges.find((m) => m.size === size)?.doc_bytes ?? 0;
    const label = `${size} (${bytes.toLocaleString("en")} B)`;
    const ours = find("rust", "live_resource::Document::merge", "value", size);
    const onValue = find("rust", "live_resource::patch::merge", "value", size);
    const peer = find("rust", "json_patch::merge", "value", size);
    const node = find("node", "json-merge-patch", "value", size);
    const spread = find("node", "spread {...state, ...update}", "value", size);
    print(`| ${label} | value | ${ns(ours)} (\`Document::merge\`), ${ns(onValue)} (\`patch::merge\` on a \`Value\`) | ${ns(peer)} | ${ns(node)} | ${ns(spread)} | ${times(peer, ours)} | ${times(node, ours)} |`);
    const wire = find("rust", "Limits::parse_update_lazy + Document::apply_owned", "wire", size);
    const strictWire = find("rust", "Limits::parse_update + Document::apply_owned", "wire", size);
    const peerWire = find("rust", "serde_json::from_slice + json_patch::merge", "wire", size);
    const nodeWire = find("node", "JSON.parse + json-merge-patch", "wire", size);
    const spreadWire = find("node", "JSON.parse + spread", "wire", size);
    print(`| ${label} | wire text | ${ns(wire)} (lazy), ${ns(strictWire)} (strict) | ${ns(peerWire)} | ${ns(nodeWire)} | ${ns(spreadWire)} | ${times(peerWire, wire)} | ${times(nodeWire, wire)} |`);
  }
  if (runs.length > 1) {
    // The ratio within each run, the two sides measured a minute apart,
    // with the two times it comes from.
    const within = (impl, input, nodeImpl) =>
      ["1KB", "100KB", "1MB"]
        .map((size) => {
          const each = runs.map((run) => {
            const [node, ours] = [find("node", nodeImpl, input, size, run), find("rust", impl, input, size, run)];
            return `${times(node, ours)} (${ns(ours)} / ${ns(node)})`;
          });
          return `${size} ${each.join(", ")}`;
        })
        .join("; ");
    print();
    print(`Run by run, \`Document::merge\` against json-merge-patch: ${within("live_resource::Document::merge", "value", "json-merge-patch")}.`);
    print(`Run by run, from wire text (lazy) against JSON.parse + json-merge-patch: ${within("Limits::parse_update_lazy + Document::apply_owned", "wire", "JSON.parse + json-merge-patch")}.`);
  }
  const flat = (impl, input) => times(find("rust", impl, input, "1MB"), find("rust", impl, input, "1KB"));
  print();
  print(`1 MB ÷ 1 KB for live-resource: \`Document::merge\` ${flat("live_resource::Document::merge", "value")}, ` +
    `\`patch::merge\` on a \`Value\` ${flat("live_resource::patch::merge", "value")}, ` +
    `wire ${flat("Limits::parse_update_lazy + Document::apply_owned", "wire")} (1.0× is flat).`);
  print();
}

const shaped = lines.filter((line) => line.bench === "merge_shapes");
if (shaped.length) {
  const best = (side, impl, shape, size) => {
    const found = shaped
      .filter((m) => m.side === side && m.impl === impl && m.shape === shape && m.size === size)
      .map((m) => m.ns_median);
    return found.length ? Math.min(...found) : undefined;
  };
  print("### Merge from wire text, by shape of patch (median ns per update; `{\"seq\":N,\"merge\":..}` read and applied)");
  print();
  print("| shape | document | live-resource lazy | live-resource strict (`Update::from_slice`) | serde_json + json_patch::merge | Node JSON.parse + json-merge-patch | strict vs serde_json | lazy vs serde_json | lazy vs Node |");
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const shape of ["price", "price_ts", "quote_ts"]) {
    for (const size of ["1KB", "100KB", "1MB"]) {
      const [lazy, strict, baseline] = ["lazy", "strict", "baseline"].map((impl) => best("rust", impl, shape, size));
      const node = best("node", "JSON.parse + json-merge-patch", shape, size);
      // Two decimals: the target (3× serde_json) is near.
      const x = (slow, fast) => (slow && fast ? `${(slow / fast).toFixed(2)}×` : "–");
      print(`| ${shape} | ${size} | ${ns(lazy)} | ${ns(strict)} | ${ns(baseline)} | ${ns(node)} | ${x(baseline, strict)} | ${x(baseline, lazy)} | ${x(node, lazy)} |`);
    }
  }
  print();
}

const others = (run) =>
  run.others_cpu_burst_s === undefined ? "–" : `${run.others_cpu_burst_s.toFixed(2)} s / ${run.others_cpu_paced_s.toFixed(2)} s`;

const SMALL_STATE = 1024;
const allFanouts = lines.filter((line) => line.bench === "fanout");
const fanouts = allFanouts.filter((run) => (run.state_bytes ?? SMALL_STATE) <= SMALL_STATE);
// One table per loader, and for the Node loader one per number of client
// threads (`procs`; runs from before it existed had one), so that results
// files concatenated from runs with different NODE_PROCS compare side by side.
const threads = (procs) => `${procs} client thread${procs === 1 ? "" : "s"}`;
const tables = [];
for (const loader of ["rust", "node"]) {
  const mine = fanouts.filter((run) => run.loader === loader);
  const procs = loader === "rust" ? [undefined] : [...new Set(mine.map((run) => run.procs ?? 1))].sort((a, b) => a - b);
  for (const p of procs) {
    tables.push({ loader, procs: p, runs: p === undefined ? mine : mine.filter((run) => (run.procs ?? 1) === p) });
  }
}
for (const { loader, procs, runs } of tables) {
  if (!runs.length) continue;
  const clients = loader === "rust"
    ? "the same Rust load generator for every server (`fanout load`: one thread, tokio-tungstenite, every message parsed by serde_json into the same borrowed struct)"
    : `Node.js clients as apps use them: \`socket.io-client\` for Socket.IO, \`ws\` + JSON.parse for live-resource, the subscribers spread over ${threads(procs)} (\`load.mjs --procs ${procs}\`)`;
  print(`### Fan-out, ${clients}`);
  print();
  print("| subscribers | server | deliveries/s (burst) | latency p50 / p99 (burst) | latency p50 / p99 (paced) | server CPU, burst / paced | server CPU per delivery (burst) | load generator CPU, burst / paced | other processes' CPU, burst / paced | RSS per idle subscriber | complete |");
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const counts = [...new Set(runs.map((run) => run.subscribers))].sort((a, b) => a - b);
  for (const k of counts) {
    // Our WebSocket protocol, our Socket.IO layer, then Node's Socket.IO
    // server; each of ours with its ratio to Node's.
    const find = (server) => runs.find((r) => r.server === server && r.subscribers === k);
    const theirs = find("socket.io");
    for (const server of ["live-resource", "live-resource socket.io", "socket.io"]) {
      const run = find(server);
      if (!run) continue;
      const perDelivery = (run.cpu_burst_s * 1e6) / (run.subscribers * run.updates);
      print(`| ${k.toLocaleString("en")} | ${run.server} | ${rate(run.deliveries_per_s)} | ${us(run.burst_p50_us ?? 0)} / ${us(run.burst_p99_us ?? 0)} | ${us(run.p50_us)} / ${us(run.p99_us)} | ${run.cpu_burst_s.toFixed(2)} s / ${run.cpu_paced_s.toFixed(2)} s | ${perDelivery.toFixed(2)} µs | ${run.loader_cpu_burst_s.toFixed(2)} s / ${run.loader_cpu_paced_s.toFixed(2)} s | ${others(run)} | ${kib(run.bytes_per_subscriber)} | ${run.complete ? "yes" : `no (${run.received}/${run.expected})`}${run.resyncs ? `, ${run.resyncs} resyncs` : ""} |`);
      if (server === "socket.io" || !theirs) continue;
      const cpuOurs = run.cpu_burst_s / (run.subscribers * run.updates);
      const cpuTheirs = theirs.cpu_burst_s / (theirs.subscribers * theirs.updates);
      print(`| | **ratio to socket.io** | **${times(run.deliveries_per_s, theirs.deliveries_per_s)}** | ${times(theirs.burst_p50_us, run.burst_p50_us)} / ${times(theirs.burst_p99_us, run.burst_p99_us)} | ${times(theirs.p50_us, run.p50_us)} / ${times(theirs.p99_us, run.p99_us)} | | ${cpuOurs > 0 ? times(cpuTheirs, cpuOurs) : "–"} | | | ${times(theirs.bytes_per_subscriber, run.bytes_per_subscriber)} | |`);
    }
  }
  const sample = runs[runs.length - 1];
  print();
  print("Ratios, for each of our servers (`live-resource`: our WebSocket protocol; `live-resource socket.io`: our Socket.IO layer, socketioxide): deliveries/s is ours ÷ Node's Socket.IO; latency, CPU and memory are Node's Socket.IO ÷ ours. Above 1× ours is better.");
  print(`Each run: a burst of M updates (M = ${[...new Set(runs.map((r) => `${r.updates} at ${r.subscribers}`))].join(", ")} subscribers), ` +
    `then ${sample.paced} updates paced (${[...new Set(runs.map((r) => `${r.pace_ms} ms at ${r.subscribers}`))].join(", ")}).`);
  print();
}

const big = allFanouts.filter((run) => (run.state_bytes ?? SMALL_STATE) > SMALL_STATE);
if (big.length) {
  print("### Memory when the state is large: resident memory per idle subscriber after its snapshot");
  print();
  print("| state | subscribers | server | RSS before | RSS with the subscribers idle | per idle subscriber |");
  print("| --- | --- | --- | --- | --- | --- |");
  for (const run of big) {
    const mib = (value) => `${(value / 1024).toFixed(1)} MiB`;
    print(`| ${(run.state_bytes / 1048576).toFixed(1)} MiB | ${run.subscribers.toLocaleString("en")} | ${run.server} | ${mib(run.rss_before_kib)} | ${mib(run.rss_idle_kib)} | ${kib(run.bytes_per_subscriber)} |`);
  }
  print();
}

// Two nodes on one Redis (`fanout cluster`).
const clusters = lines.filter((line) => line.bench === "cluster");
const modes = [...new Set(clusters.map((run) => run.kill_mode))];
if (clusters.length) {
  const cpu = (c) => `${(c.nodes + c.redis).toFixed(2)} s (Redis ${c.redis.toFixed(2)} s)`;
  print("### Two nodes on one Redis: fan-out and latency across the nodes (the same Rust load generator; publishing on node 0)");
  print();
  print("| subscribers | system | deliveries/s (burst, both nodes) | latency p50 / p99 on node 1 (across Redis) | latency p50 / p99 on node 0 (publisher's) | nodes' + Redis CPU, burst / paced | load generator CPU, burst | other processes' CPU, burst / paced | complete |");
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  const kills = clusters.filter((run) => run.kill_mode === "kill -9");
  for (const k of [...new Set(kills.map((run) => run.subscribers))].sort((a, b) => a - b)) {
    const pair = ["live-resource", "socket.io"].map((server) => kills.find((r) => r.server === server && r.subscribers === k));
    for (const run of pair) {
      if (!run) continue;
      print(`| ${k.toLocaleString("en")} | ${run.server} | ${rate(run.deliveries_per_s)} | ${us(run.remote_p50_us)} / ${us(run.remote_p99_us)} | ${us(run.local_p50_us)} / ${us(run.local_p99_us)} | ${cpu(run.cpu_burst_s)} / ${cpu(run.cpu_paced_s)} | ${run.cpu_burst_s.loader.toFixed(2)} s | ${run.cpu_burst_s.others.toFixed(2)} s / ${run.cpu_paced_s.others.toFixed(2)} s | ${run.complete ? "yes" : "no"} |`);
    }
    const [ours, theirs] = pair;
    if (ours && theirs) {
      print(`| | **ratio** | **${times(ours.deliveries_per_s, theirs.deliveries_per_s)}** | ${times(theirs.remote_p50_us, ours.remote_p50_us)} / **${times(theirs.remote_p99_us, ours.remote_p99_us)}** | ${times(theirs.local_p50_us, ours.local_p50_us)} / ${times(theirs.local_p99_us, ours.local_p99_us)} | | | | |`);
    }
  }
  print();
  print("Ratios: deliveries/s is live-resource ÷ Socket.IO; latency is Socket.IO ÷ live-resource. Above 1× live-resource is better.");
  const workers = [...new Set(kills.filter((run) => run.server === "live-resource").map((run) => run.node_workers ?? "default"))];
  print(`Each live-resource node ran ${workers.join(", ")} tokio worker thread(s); each Socket.IO node is one Node.js process.`);
  print();
  for (const mode of modes) {
    const runs = clusters.filter((run) => run.kill_mode === mode);
    const how = mode === "kill -9"
      ? "node 1 killed with `kill -9` a third of the way through"
      : "node 1 stays up; each of its clients closes its connection a third of the way through, waits 200 ms and resumes on node 0 (the case Socket.IO's connection state recovery is made for)";
    print(`### Two nodes on one Redis: ${how}`);
    print();
    print("| subscribers (moved) | system | updates in the run, per client | lost by the moved clients (of them, not covered by a new snapshot) | lost by the others | duplicated | recovered / new snapshots | updates before their snapshot | first attempt to first update on node 0, p50 / p99 / max | from the close, p99 | complete |");
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const run of runs) {
      const kill = run.kill;
      const total = run.updates + run.paced + run.kill_updates;
      const recovered = run.server === "socket.io" ? `${kill.recovered} recovered, ${kill.snapshots_after_start} new snapshots` : `${kill.reconnects} resumed with \`since\`, ${kill.resyncs} resyncs, ${kill.snapshots_after_start} new snapshots`;
      print(`| ${run.subscribers.toLocaleString("en")} (${kill.moved_clients.toLocaleString("en")}) | ${run.server} | ${total} (${run.kill_updates} ${run.kill_pace_ms} ms apart in the last part) | **${kill.lost.moved.toLocaleString("en")}** in ${kill.clients_that_lost.toLocaleString("en")} clients (${kill.lost_uncovered.moved.toLocaleString("en")}) | ${kill.lost.stayed} | ${kill.duplicated.moved + kill.duplicated.stayed} | ${recovered} | ${kill.updates_before_snapshot ?? 0} in ${kill.clients_with_updates_before_snapshot ?? 0} clients | ${us(kill.resume_p50_us)} / ${us(kill.resume_p99_us)} / ${us(kill.resume_max_us)} | ${us(kill.outage_p99_us)} | ${run.complete ? "yes" : "no"}${kill.failed_clients ? `, ${kill.failed_clients} clients failed` : ""} |`);
    }
    print();
  }
}

process.stdout.write(out.join("\n") + "\n");
