#!/usr/bin/env bash
# live-resource against its peers, side by side, in one run on one machine:
#
#   merge:   ours and json_patch::merge (Rust) against npm json-merge-patch
#            and the shallow spread (Node.js), on the same files;
#   fan-out: our WebSocket server, our Socket.IO layer (`fanout serve
#            --socketio`, socketio::layer on the same hub) and a Node.js
#            Socket.IO 4.8 server, the same K subscribers and the same
#            updates, driven by the same Rust load generator and then by
#            Node.js clients (socket.io-client, ws);
#   redis:   two nodes on one Redis for each: live-resource's RedisHub
#            (benches/peers/redis_node.rs) against socket.io with
#            @socket.io/redis-streams-adapter; fan-out and latency across
#            the nodes, then one node killed with kill -9 mid-stream (and a
#            control where its clients only hang up), what each client lost
#            (`fanout cluster`, benches/peers/cluster.rs).
#
# usage: bash benches/peers/run.sh
# knobs (environment): SUBSCRIBERS="100 1000 10000" LOADERS="rust node"
#                      BURSTS="1000 200 100" (M for each K in SUBSCRIBERS, in
#                      order; default 1000 at 100, 200 at 1000, 100 beyond)
#                      SKIP_MERGE=1 SKIP_FANOUT=1 SKIP_REDIS=1 CARGO_TARGET_DIR=..
#                      REDIS_SUBSCRIBERS="100 1000 10000" (the two-node runs;
#                      needs redis-server on PATH, which each run starts on a
#                      free port of its own, nothing kept on disk)
#                      REDIS_CLOSE_SUBSCRIBERS="1000" (the hang-up control;
#                      empty: none)
#                      REDIS_NODE_WORKERS=1 (tokio worker threads of each
#                      live-resource node: two nodes on two cores, as the
#                      two single-threaded Node.js nodes are)
#                      MERGE_RUNS=5 (the merge comparison runs this many
#                      times, the two sides taking turns; each side's best
#                      run is reported)
#                      NODE_PROCS=2 (client threads of the Node load generator,
#                      load.mjs --procs: the K subscribers are split between them)
# Prints the tables (benches/peers/report.mjs) and leaves the raw JSON lines
# in $CARGO_TARGET_DIR/peers/results.jsonl. Needs cargo and Node.js >= 20.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/peers
subscribers=${SUBSCRIBERS:-100 1000 10000}
loaders=${LOADERS:-rust node}
node_procs=${NODE_PROCS:-2}
redis_subscribers=${REDIS_SUBSCRIBERS-100 1000 10000}
redis_close_subscribers=${REDIS_CLOSE_SUBSCRIBERS-1000}
redis_node_workers=${REDIS_NODE_WORKERS:-1}
merge_runs=${MERGE_RUNS:-5}

# Every server and client started below dies with this script.
trap 'jobs -p | xargs -r kill 2>/dev/null || true' EXIT

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$root" && CARGO_TARGET_DIR=$target cargo build --release --example fanout --features server,ws,socketio)
fanout=$target/release/examples/fanout
if [[ -z ${SKIP_REDIS:-} ]]; then
  command -v redis-server >/dev/null || { echo "SKIP_REDIS=1, or install redis-server" >&2; exit 1; }
  # Its own build: fanout stays built without the `redis` feature.
  (cd "$root" && CARGO_TARGET_DIR=$target cargo build --release --example redis_node --features server,ws,redis)
fi

mkdir -p "$out/data"
results=$out/results.jsonl
: >"$results"

# 10,000 WebSocket connections need a socket each on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "ulimit -n: $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Writes the documents and patches both sides read, so it runs even with SKIP_MERGE.
echo "== merge (Rust)" >&2
if [[ -n ${SKIP_MERGE:-} ]]; then
  "$fanout" merge "$out/data" >/dev/null
else
  # A shared machine can run twice as slow for a while: the two sides take
  # turns, and each run's lines carry its number for the report.
  for run in $(seq "$merge_runs"); do
    echo "== merge, run $run of $merge_runs (Rust, then Node.js)" >&2
    "$fanout" merge "$out/data" | sed "s/^{/{\"run\":$run,/" | tee -a "$results"
    node "$here/merge.mjs" "$out/data" | sed "s/^{/{\"run\":$run,/" | tee -a "$results"
  done
fi

# For K subscribers: M updates in the burst (fewer than the hub's default
# 1024-update subscriber queue), and the pace of the latency run, longer than
# either server takes to fan one update out, so that the latency is that of
# one update rather than of a queue.
burst_for() {
  if [[ -n ${BURSTS:-} ]]; then
    local -a ks=($subscribers) ms=($BURSTS) i
    for i in "${!ks[@]}"; do [[ ${ks[$i]} == "$1" ]] && { echo "${ms[$i]}"; return; }; done
  fi
  case $1 in 100) echo 1000 ;; 1000) echo 200 ;; *) echo 100 ;; esac
}
pace_for() { if (($1 <= 100)); then echo 10; elif (($1 <= 1000)); then echo 50; else echo 250; fi; }
paced=50

ours=("$fanout" serve)
layer=("$fanout" serve --socketio)
peer=(node "$here/server.mjs" "$out/data/dashboard-1KB.json")
if [[ -z ${SKIP_FANOUT:-} ]]; then
  for k in $subscribers; do
    flags=(--subscribers "$k" --updates "$(burst_for "$k")" --paced "$paced" --pace-ms "$(pace_for "$k")")
    for loader in $loaders; do
      if [[ $loader == rust ]]; then
        load=("$fanout" load)
      else
        load=(node "$here/load.mjs" --procs "$node_procs")
      fi
      echo "== fan-out, $k subscribers, $loader clients: live-resource" >&2
      "${load[@]}" --proto ours "${flags[@]}" -- "${ours[@]}" | tee -a "$results"
      sleep 2
      echo "== fan-out, $k subscribers, $loader clients: socket.io" >&2
      "${load[@]}" --proto socketio "${flags[@]}" -- "${peer[@]}" | tee -a "$results"
      sleep 2
      echo "== fan-out, $k subscribers, $loader clients: live-resource's Socket.IO layer" >&2
      "${load[@]}" --proto socketio "${flags[@]}" -- "${layer[@]}" | tee -a "$results"
      sleep 2
    done
  done

  # Memory per idle subscriber when the state is the 1 MB dashboard: each
  # subscriber's snapshot is then a 1 MB message.
  big=1048576
  flags=(--subscribers 1000 --updates 10 --paced 10 --pace-ms 50 --state-bytes "$big")
  echo "== fan-out, 1,000 subscribers of a 1 MB state: live-resource" >&2
  "$fanout" load --proto ours "${flags[@]}" -- "$fanout" serve "$big" | tee -a "$results"
  sleep 2
  echo "== fan-out, 1,000 subscribers of a 1 MB state: socket.io" >&2
  "$fanout" load --proto socketio "${flags[@]}" -- node "$here/server.mjs" "$out/data/dashboard-1MB.json" | tee -a "$results"
fi

# Two nodes on one Redis each. The same K, bursts and pace as the fan-out
# above; then N updates Y ms apart (kill_for), node 1 killed a third of the
# way in.
kill_for() { case $1 in 100) echo "200 5" ;; 1000) echo "200 10" ;; *) echo "100 50" ;; esac; }
if [[ -z ${SKIP_REDIS:-} ]]; then
  ours_node=("$target/release/examples/redis_node")
  peer_node=(node "$here/server.mjs" "$out/data/dashboard-1KB.json")
  cluster() { # K MODE
    local k=$1 mode=$2 kn kp
    read -r kn kp <<<"$(kill_for "$k")"
    local flags=(--subscribers "$k" --updates "$(burst_for "$k")" --paced "$paced" --pace-ms "$(pace_for "$k")"
      --kill-updates "$kn" --kill-pace-ms "$kp" --kill-mode "$mode")
    echo "== two nodes on Redis, $k subscribers, node 1 lost by $mode: live-resource" >&2
    NODE_WORKERS=$redis_node_workers "$fanout" cluster --proto ours "${flags[@]}" -- "${ours_node[@]}" |
      sed "s/^{/{\"node_workers\":$redis_node_workers,/" | tee -a "$results"
    sleep 2
    echo "== two nodes on Redis, $k subscribers, node 1 lost by $mode: socket.io" >&2
    "$fanout" cluster --proto socketio "${flags[@]}" -- "${peer_node[@]}" | tee -a "$results"
    sleep 2
  }
  for k in $redis_subscribers; do cluster "$k" kill; done
  for k in $redis_close_subscribers; do cluster "$k" close; done
fi

node "$here/report.mjs" "$results" | tee "$out/RESULTS.table.md"
