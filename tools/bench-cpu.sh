#!/usr/bin/env bash
# CPU per request of one node: starts a node, loads it, lets it settle, runs one workload
# with shoal-bench and divides the node's CPU time (user and system, from /proc) by the
# operations done. Throughput moves with whatever else runs on the machine; CPU per
# operation moves much less, so this is the figure to compare between builds.
#
# Usage: tools/bench-cpu.sh [WORKLOAD (c)] [SECONDS (10)]
# Environment: SHARDS (2), RECORDS (100000), CONCURRENCY (50), RATE (open loop at this many
# operations/s; closed loop if unset), CONFIG (a node config file),
# GEN_CPU (pin the generator to this CPU, e.g. 0, with a CONFIG that pins the shard
# elsewhere), SKIP_BUILD=1, SHOAL_BIN / BENCH_BIN. Prints one line of figures per run and
# the node's reschedule interrupts per operation (on every CPU: an IPI that interrupts a
# running shard shows here).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD="${1:-c}"
SECONDS_RUN="${2:-10}"
SHARDS="${SHARDS:-2}"
RECORDS="${RECORDS:-100000}"
CONCURRENCY="${CONCURRENCY:-50}"
# bench_prepare, wait_health, wait_settled.
source tools/bench-lib.sh
bench_prepare shoal-cpu
"$SHOAL_BIN" server --listen 127.0.0.1:7400 --http 127.0.0.1:7480 --data-dir "$work/data" \
  --shards "$SHARDS" ${CONFIG:+--config "$CONFIG"} >"$work/node.log" 2>&1 &
node=$!
pids+=("$node")
wait_health 127.0.0.1:7480

generator=("$BENCH_BIN")
[[ -n "${GEN_CPU:-}" ]] && generator=(taskset -c "$GEN_CPU" "$BENCH_BIN")
common=(--target shoal --hosts 127.0.0.1:7400 --records "$RECORDS" --value-bytes 1000
  --fields 10 --concurrency "$CONCURRENCY" --threads 1 --rf 1 --read-consistency ONE
  --write-consistency ONE --report-interval-s 1000)
cpu_ticks() { awk '{print $14, $15}' "/proc/$node/stat"; }
reschedules() { awk '/^ *RES:/ { s = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; print s }' /proc/interrupts; }

if [[ "$WORKLOAD" != load ]]; then
  "${generator[@]}" "${common[@]}" --workload load --out "$work/load.json" >/dev/null
  wait_settled 127.0.0.1:7480
fi
before="$(cpu_ticks)" res_before="$(reschedules)"
duration=(--duration-s "$SECONDS_RUN")
[[ "$WORKLOAD" == load ]] && duration=()
"${generator[@]}" "${common[@]}" --workload "$WORKLOAD" "${duration[@]}" ${RATE:+--rate "$RATE"} --out "$work/run.json" >/dev/null
after="$(cpu_ticks)" res_after="$(reschedules)"
hz="$(getconf CLK_TCK)"
python3 - "$work/run.json" "$before" "$after" "$res_before" "$res_after" "$hz" "$SHARDS" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
(u0, s0), (u1, s1) = (map(int, a.split()) for a in sys.argv[2:4])
res = int(sys.argv[5]) - int(sys.argv[4])
hz, shards = int(sys.argv[6]), sys.argv[7]
ops = sum(o["count"] for o in run["ops"].values())
us = lambda ticks: ticks / hz * 1e6 / ops
lat = {k: (o["latency_us"]["p50"], o["latency_us"]["p99"]) for k, o in run["ops"].items()}
print(f"workload {run['workload']} shards {shards}: {run['throughput']:.0f} ops/s, "
      f"node CPU {us(u1 - u0):.1f} us user + {us(s1 - s0):.1f} us system per op, "
      f"{res / ops:.2f} reschedule IPIs per op, p50/p99 us {lat}")
PY
