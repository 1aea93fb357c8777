# Shared by the benchmark scripts (`source tools/bench-lib.sh`): the common set-up and
# clean-up, and waiting, with deadlines, for a port, a dev-cluster's ready line, a node's
# /health and a node that has settled after a load.

# The binaries bench_prepare builds, unless the caller points these at others.
SHOAL_BIN="${SHOAL_BIN:-target/release/shoal}"
BENCH_BIN="${BENCH_BIN:-target/release/shoal-bench}"

bench_prepare() { # prefix: build (unless SKIP_BUILD=1), memlock limit, scratch dir $work
  # The release binaries, unless the caller points SHOAL_BIN/BENCH_BIN at ones built before.
  if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release --locked -p shoal-cli -p shoal-bench-harness
  fi
  # glommio registers I/O memory; make sure the lock limit allows it.
  ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true
  # Every process started into $pids is stopped, and $work removed, when the script exits.
  work="$(mktemp -d "/tmp/$1.XXXXXX")"
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}

wait_port() { # host port
  for _ in $(seq 1 200); do
    if (echo >"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $1:$2" >&2
  return 1
}

wait_ready_line() { # log file: `shoal dev-cluster` prints "ready: ..." once all nodes see each other
  for _ in $(seq 1 1300); do
    if grep -q '^ready:' "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "the cluster never became ready (see $1)" >&2
  return 1
}

wait_health() { # host:port
  for _ in $(seq 1 200); do
    if curl -fs "http://$1/health" >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "node at $1 never became healthy" >&2
  return 1
}

wait_settled() { # host:port ... (metrics endpoints): until flushes and compactions stop
  # After a load phase a node flushes memtables and compacts for a few seconds; benchmarks
  # of Cassandra-like stores wait for that (nodetool compactionstats) before measuring the
  # workloads, so the workloads are not measured against the load's leftover work. Settled:
  # the flush and compaction counters of every node unchanged for 2 s (60 s at most).
  local last="" same=0 now
  for _ in $(seq 1 120); do
    now="$(for m in "$@"; do curl -fs "http://$m/metrics" 2>/dev/null; done \
      | grep -E '^shoal_(flushes|compactions)_total' || true)"
    if [[ -n "$now" && "$now" == "$last" ]]; then
      same=$((same + 1))
      if ((same >= 4)); then return 0; fi
    else
      same=0
    fi
    last="$now"
    sleep 0.5
  done
  echo "note: flushes or compactions still running after 60 s; measuring anyway" >&2
}
