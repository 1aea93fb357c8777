#!/usr/bin/env bash
# The standard comparison on one machine: a local 1-node Shoal (2 shards), a 3-node Shoal
# (RF=3, QUORUM; only when `shoal dev-cluster` exists), a Redis without persistence and a
# Redis with `appendfsync always`, each driven by the same `shoal-bench` with the same
# settings: load, then workloads A, B and C. Prints one markdown table of throughput and
# p99 with ratios to Redis, and keeps every run's JSON in $OUT_DIR.
#
# Settings (environment): RECORDS (100000), VALUE_BYTES (1000, in 10 fields), DURATION_S
# (30 per workload), CONCURRENCY (50 connections), THREADS (1 generator thread),
# OUT_DIR (bench-out/compare), SYSTEMS (which to run, default
# "shoal-1node shoal-1shard shoal-1node-conns shoal-3node redis redis-aof"; shoal-1shard is
# the same node with one shard, which on a 2-core machine leaves the other core to the
# generator; shoal-1node-conns is the 2-shard node driven with a client per task
# (`--shoal-clients 0`), so each task has its own connections as against Redis, where the
# other Shoal rows share one pipelined client; ratios use $OUT_DIR/redis-*.json even from an
# earlier run), SKIP_BUILD=1 to use the binaries already built (SHOAL_BIN,
# BENCH_BIN override their paths). Needs redis-server (apt-get install -y redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${RECORDS:-100000}"
VALUE_BYTES="${VALUE_BYTES:-1000}"
DURATION_S="${DURATION_S:-30}"
CONCURRENCY="${CONCURRENCY:-50}"
THREADS="${THREADS:-1}"
OUT_DIR="${OUT_DIR:-bench-out/compare}"
SYSTEMS="${SYSTEMS:-shoal-1node shoal-1shard shoal-1node-conns shoal-3node redis redis-aof}"
REDIS_PORT=6390
REDIS_AOF_PORT=6391

# bench_prepare, wait_port, wait_ready_line, wait_health, wait_settled.
source tools/bench-lib.sh
bench_prepare shoal-compare
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
mkdir -p "$OUT_DIR"

bench() { # name target hosts workload extra-args...
  local name="$1" target="$2" hosts="$3" workload="$4"
  shift 4
  local duration=(--duration-s "$DURATION_S")
  [[ "$workload" == load ]] && duration=()
  # Other work on the machine skews everything; the load average says how much there was.
  echo "--- $name: workload $workload (loadavg $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$BENCH_BIN" --target "$target" --hosts "$hosts" --workload "$workload" \
    --records "$RECORDS" --value-bytes "$VALUE_BYTES" --fields 10 \
    --concurrency "$CONCURRENCY" --threads "$THREADS" "${duration[@]}" \
    --report-interval-s 10 --out "$OUT_DIR/$name-$workload.json" "$@" >"$OUT_DIR/$name-$workload.log"
  tail -n 8 "$OUT_DIR/$name-$workload.log" >&2
}

run_all() { # name target hosts extra-args... ($SETTLE: metrics endpoints to wait on after load)
  local name="$1" target="$2" hosts="$3"
  shift 3
  for workload in load a b c; do
    bench "$name" "$target" "$hosts" "$workload" "$@"
    if [[ "$workload" == load && -n "${SETTLE:-}" ]]; then
      # shellcheck disable=SC2086 # a list of endpoints
      wait_settled $SETTLE
    fi
  done
}

systems=()
wanted() { [[ " $SYSTEMS " == *" $1 "* ]]; }

# 1. Shoal, one node, two shards (then the same with one shard, then two shards with a client
# per task). After each load the node settles (flushes and compactions finish) before the
# workloads.
for variant in shoal-1node:2:1 shoal-1shard:1:1 shoal-1node-conns:2:0; do
  IFS=: read -r name shards clients <<<"$variant"
  wanted "$name" || continue
  mkdir -p "$work/$name"
  "$SHOAL_BIN" server --listen 127.0.0.1:7400 --http 127.0.0.1:7480 --data-dir "$work/$name" \
    --shards "$shards" >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_health 127.0.0.1:7480
  SETTLE=127.0.0.1:7480 run_all "$name" shoal 127.0.0.1:7400 --rf 1 \
    --read-consistency ONE --write-consistency ONE --shoal-clients "$clients"
  systems+=("$name")
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

# 2. Shoal, three nodes, RF=3, QUORUM (needs `shoal dev-cluster`).
if ! wanted shoal-3node; then
  :
elif "$SHOAL_BIN" dev-cluster --help >/dev/null 2>&1; then
  "$SHOAL_BIN" dev-cluster --nodes 3 --base-dir "$work/shoal3" >"$work/shoal3.log" 2>&1 &
  pids+=($!)
  wait_ready_line "$work/shoal3.log"
  SETTLE="127.0.0.1:7480 127.0.0.2:7480 127.0.0.3:7480" \
    run_all shoal-3node shoal 127.0.0.1:7400,127.0.0.2:7400,127.0.0.3:7400 --rf 3 \
    --read-consistency QUORUM --write-consistency QUORUM \
    --metrics 127.0.0.1:7480,127.0.0.2:7480,127.0.0.3:7480
  systems+=(shoal-3node)
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
else
  echo "note: \`shoal dev-cluster\` does not exist yet: the 3-node row is skipped" >&2
fi

# 3. Redis without persistence, then with an fsync per write.
if wanted redis; then
redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$REDIS_PORT"
run_all redis redis "127.0.0.1:$REDIS_PORT"
systems+=(redis)
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
fi

if wanted redis-aof; then
mkdir -p "$work/aof"
redis-server --port "$REDIS_AOF_PORT" --save "" --appendonly yes --appendfsync always \
  --dir "$work/aof" >"$work/redis-aof.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 "$REDIS_AOF_PORT"
run_all redis-aof redis "127.0.0.1:$REDIS_AOF_PORT"
systems+=(redis-aof)
fi

python3 - "$OUT_DIR" "${systems[@]}" <<'PY'
import json, os, sys
out, systems = sys.argv[1], sys.argv[2:]
def load(s, w):
    with open(f"{out}/{s}-{w}.json") as f:
        return json.load(f)
def p99(r, op):
    o = r["ops"].get(op)
    return o["latency_us"]["p99"] if o else None
def errors(r):
    return sum(sum(o["errors"].values()) for o in r["ops"].values())
print("| workload | system | ops/s | read p99 µs | write p99 µs | errors | ops/s ÷ Redis | read p99 ÷ Redis | write p99 ÷ Redis |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
fmt = lambda v: "—" if v is None else f"{v:,.0f}"
ratio = lambda a, b: "—" if a is None or not b else f"{a / b:.2f}"
for w in ["load", "a", "b", "c"]:
    base = load("redis", w) if os.path.exists(f"{out}/redis-{w}.json") else None
    for s in systems:
        r = load(s, w)
        write = "insert" if w == "load" else "update"
        rp, wp = p99(r, "read"), p99(r, write)
        print(f"| {w.upper() if w != 'load' else 'load'} | {s} | {fmt(r['throughput'])} | {fmt(rp)} | {fmt(wp)} | {errors(r)} "
              f"| {ratio(r['throughput'], base and base['throughput'])} "
              f"| {ratio(rp, base and p99(base, 'read'))} | {ratio(wp, base and p99(base, write))} |")
PY
