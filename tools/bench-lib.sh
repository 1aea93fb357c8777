# Shared by the benchmark scripts (`source tools/bench-lib.sh`): waiting, with deadlines, for
# a port, a dev-cluster's ready line and a node's /health.

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
