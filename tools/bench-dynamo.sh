#!/usr/bin/env bash
# The DynamoDB-API comparison on one machine: the same `shoal-bench --target dynamodb`
# (AWS JSON 1.0 over HTTP/1.1 keep-alive, SigV4-signed) against
#   dynalite        dynalite 3 (Node, in memory), the reference;
#   shoal-batch     one Shoal node, 2 shards, `batch` commit-log sync (ack after fdatasync,
#                   the default), DynamoDB listener on 127.0.0.1:8000;
#   shoal-native    the same node through the native protocol (for the API's overhead);
#   shoal-periodic  the same node with `periodic` sync (engine.commitlog_sync);
#   shoal-3node     `shoal dev-cluster --nodes 3` (DynamoDB on 127.0.0.{1,2,3}:8000,
#                   connections spread over the three), writes and reads at QUORUM.
# For each: load RECORDS records (PutItem only), then DURATION_S of 100 % UpdateItem and
# DURATION_S of 100 % GetItem (workload C), CONCURRENCY connections, closed loop. Prints
# one markdown table (throughput, p50, p99, errors, ratio to dynalite) and keeps every
# run's JSON and log in $OUT_DIR. About 5 minutes with the defaults.
#
# Settings (environment): RECORDS (50000), VALUE_BYTES (1000, in 10 fields), DURATION_S
# (20 per phase), CONCURRENCY (16), THREADS (1 generator thread), OUT_DIR
# (bench-out/dynamo), SYSTEMS (default "dynalite shoal-batch shoal-native shoal-periodic
# shoal-3node"; ratios use $OUT_DIR/dynalite-*.json even from an earlier run),
# DYNALITE_DIR (scratch dir dynalite is npm-installed into, /tmp/shoal-dynalite),
# DYNALITE_PORT (4567), SKIP_BUILD=1 to use the binaries already built (SHOAL_BIN,
# BENCH_BIN override their paths). Needs node and npm for dynalite.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${RECORDS:-50000}"
VALUE_BYTES="${VALUE_BYTES:-1000}"
DURATION_S="${DURATION_S:-20}"
CONCURRENCY="${CONCURRENCY:-16}"
THREADS="${THREADS:-1}"
OUT_DIR="${OUT_DIR:-bench-out/dynamo}"
SYSTEMS="${SYSTEMS:-dynalite shoal-batch shoal-native shoal-periodic shoal-3node}"
DYNALITE_DIR="${DYNALITE_DIR:-/tmp/shoal-dynalite}"
DYNALITE_PORT="${DYNALITE_PORT:-4567}"

# bench_prepare, wait_port, wait_ready_line, wait_health.
source tools/bench-lib.sh
bench_prepare shoal-dynamo
mkdir -p "$OUT_DIR"

wanted() { [[ " $SYSTEMS " == *" $1 "* ]]; }


stop_last() {
  kill "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
}

bench() { # name phase target hosts extra-args...  (phase: load, update or get)
  local name="$1" phase="$2" target="$3" hosts="$4"
  shift 4
  local args=(--workload c --duration-s "$DURATION_S")
  case "$phase" in
    load) args=(--workload load) ;;
    update) args=(--workload a --read-proportion 0 --duration-s "$DURATION_S") ;;
  esac
  # Other work on the machine skews everything; the load average says how much there was.
  echo "--- $name: $phase (loadavg $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "$BENCH_BIN" --target "$target" --hosts "$hosts" "${args[@]}" \
    --records "$RECORDS" --value-bytes "$VALUE_BYTES" --fields 10 \
    --concurrency "$CONCURRENCY" --threads "$THREADS" \
    --report-interval-s 10 --out "$OUT_DIR/$name-$phase.json" "$@" >"$OUT_DIR/$name-$phase.log"
  sed -n '/^== /,/^per shard/p' "$OUT_DIR/$name-$phase.log" | grep -v '^per shard' >&2
}

run_all() { # name target hosts extra-args...
  local name="$1" target="$2" hosts="$3"
  shift 3
  for phase in load update get; do bench "$name" "$phase" "$target" "$hosts" "$@"; done
  systems+=("$name")
}

systems=()

# 1. dynalite, installed into a scratch dir when missing; in memory, one Node process.
if wanted dynalite; then
  if [[ ! -f "$DYNALITE_DIR/node_modules/dynalite/cli.js" ]]; then
    command -v npm >/dev/null || { echo "npm missing: apt-get install -y nodejs npm" >&2; exit 1; }
    mkdir -p "$DYNALITE_DIR"
    npm install --prefix "$DYNALITE_DIR" --no-audit --no-fund dynalite@3 >"$work/npm.log" 2>&1 \
      || { cat "$work/npm.log" >&2; exit 1; }
  fi
  node "$DYNALITE_DIR/node_modules/dynalite/cli.js" --port "$DYNALITE_PORT" \
    --createTableMs 50 >"$work/dynalite.log" 2>&1 &
  pids+=($!)
  wait_port 127.0.0.1 "$DYNALITE_PORT"
  # ConsistentRead makes no difference to dynalite; ONE sends none, as most clients do.
  run_all dynalite dynamodb "127.0.0.1:$DYNALITE_PORT" --read-consistency ONE
  stop_last
fi

# 2-4. One Shoal node (2 shards): DynamoDB API with batch sync, the native protocol on the
# same node, then DynamoDB API with periodic sync (a fresh data dir each).
has_dynamodb=0
if "$SHOAL_BIN" server --help 2>/dev/null | grep -q -- '--dynamodb'; then has_dynamodb=1; fi
start_node() { # dir [extra server args...]
  local dir="$1"
  shift
  mkdir -p "$dir"
  "$SHOAL_BIN" server --listen 127.0.0.1:7400 --http 127.0.0.1:7480 --data-dir "$dir" \
    --shards 2 --dynamodb 127.0.0.1:8000 "$@" >"$dir.log" 2>&1 &
  pids+=($!)
  wait_health 127.0.0.1:7480
  wait_port 127.0.0.1 8000
}
one_node=(--read-consistency ONE --metrics 127.0.0.1:7480)
if [[ $has_dynamodb == 0 ]]; then
  echo "note: \`shoal server --dynamodb\` does not exist yet: the Shoal rows are skipped" >&2
else
  if wanted shoal-batch || wanted shoal-native; then
    start_node "$work/shoal-batch"
    if wanted shoal-batch; then run_all shoal-batch dynamodb 127.0.0.1:8000 "${one_node[@]}"; fi
    if wanted shoal-native; then
      run_all shoal-native shoal 127.0.0.1:7400 --rf 1 --read-consistency ONE \
        --write-consistency ONE
    fi
    stop_last
  fi
  if wanted shoal-periodic; then
    printf '[engine]\ncommitlog_sync = "periodic"\n' >"$work/periodic.toml"
    start_node "$work/shoal-periodic" --config "$work/periodic.toml"
    run_all shoal-periodic dynamodb 127.0.0.1:8000 "${one_node[@]}"
    stop_last
  fi
  # 5. Three nodes, RF 3: writes at QUORUM (x-shoal-consistency), reads ConsistentRead.
  if wanted shoal-3node; then
    if "$SHOAL_BIN" dev-cluster --help >/dev/null 2>&1; then
      "$SHOAL_BIN" dev-cluster --nodes 3 --base-dir "$work/shoal3" >"$work/shoal3.log" 2>&1 &
      pids+=($!)
      wait_ready_line "$work/shoal3.log"
      for ip in 127.0.0.1 127.0.0.2 127.0.0.3; do wait_port "$ip" 8000; done
      run_all shoal-3node dynamodb 127.0.0.1:8000,127.0.0.2:8000,127.0.0.3:8000 \
        --write-consistency QUORUM --read-consistency QUORUM \
        --metrics 127.0.0.1:7480,127.0.0.2:7480,127.0.0.3:7480
      stop_last
    else
      echo "note: \`shoal dev-cluster\` does not exist: the 3-node row is skipped" >&2
    fi
  fi
fi

python3 - "$OUT_DIR" "${systems[@]}" <<'PY'
import json, os, sys
out, systems = sys.argv[1], sys.argv[2:]
phases = [("load", "insert", "PutItem"), ("update", "update", "UpdateItem"), ("get", "read", "GetItem")]
def load(s, p):
    path = f"{out}/{s}-{p}.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)
fmt = lambda v: "—" if v is None else f"{v:,.0f}"
ratio = lambda a, b: "—" if a is None or not b else f"{a / b:.2f}"
print("| target | op | ops/s | p50 µs | p99 µs | errors | ops/s ÷ dynalite | p99 ÷ dynalite |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for phase, kind, op in phases:
    base = load("dynalite", phase)
    base_op = base and base["ops"].get(kind)
    for s in systems:
        r = load(s, phase)
        o = r and r["ops"].get(kind)
        if not o:
            print(f"| {s} | {op} | — | — | — | — | — | — |")
            continue
        errors = sum(sum(x["errors"].values()) for x in r["ops"].values())
        lat = o["latency_us"]
        print(f"| {s} | {op} | {fmt(o['throughput'])} | {fmt(lat['p50'])} | {fmt(lat['p99'])} | {errors} "
              f"| {ratio(o['throughput'], base_op and base_op['throughput'])} "
              f"| {ratio(lat['p99'], base_op and base_op['latency_us']['p99'])} |")
PY
